"""Odd things in the sessions folder and odd text in sessions: nothing is lost, no
listing or load fails as a whole, nothing hangs."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hermes_nb import models, streaming
from hermes_nb.errors import (
    CorruptSessionError,
    InvalidSessionIdError,
    SessionWriteError,
    UnreadableSessionError,
)
from hermes_nb.kernel import turn_history
from hermes_nb.models import Session
from hermes_nb.store import diskstate, journal

SURROGATE = "caf\udcff"  # what os.listdir gives for the file name b"caf\xff"
HALVES = "\ud83d\ude00"  # an emoji as two UTF-16 halves


def _within(seconds: float, fn: Callable[[], Any]) -> Any:
    """Run ``fn`` in a thread; fail (instead of hanging the suite) if it does not return."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed to the caller
            box["error"] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"still running after {seconds}s"
    if "error" in box:
        raise box["error"]
    return box.get("value")


# --------------------------------------------------------------------------- surrogates


def test_lone_surrogates_anywhere_are_saved_and_read_back(session_dir: Path) -> None:
    s = Session(session_id="sur", title=f"title {SURROGATE}")
    s.messages = [
        {"role": "user", "content": f"list {SURROGATE}"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "list_files", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": f"{SURROGATE}  (3 B)"},
    ]
    s.pending_partial_text = f"half an emoji {HALVES[0]}"
    s.pending_user_message = f"again {SURROGATE}"
    s.save(skip_index=True)
    s.save()
    models.SESSIONS.clear()
    back = Session.load("sur")
    assert back is not None
    assert back.title == s.title and back.messages == s.messages
    assert back.pending_partial_text == s.pending_partial_text
    assert back.pending_user_message == s.pending_user_message
    assert models.list_sessions()[0].title == s.title
    raw = s.path.read_bytes()
    raw.decode("utf-8")  # the file is plain UTF-8
    assert b"\\udcff" in raw


def test_two_halves_of_an_emoji_come_back_as_the_emoji(session_dir: Path) -> None:
    s = Session(session_id="emoji", messages=[{"role": "assistant", "content": "a " + HALVES}])
    s.save()
    back = Session.load("emoji")
    assert back is not None and back.messages[0]["content"] == "a \U0001f600"


# --------------------------------------------------------------------------- reserved and odd names


@pytest.mark.parametrize("bad", ["_index", "_anything", "../x", "", "a" * 65, 42])
def test_reserved_and_invalid_ids_are_refused(session_dir: Path, bad: Any) -> None:
    Session(session_id="keep").save()
    index_before = models.SESSION_INDEX_FILE.read_bytes()
    with pytest.raises(InvalidSessionIdError):
        models.get_session(bad)
    with pytest.raises(InvalidSessionIdError):
        Session(session_id=bad)
    assert models.SESSION_INDEX_FILE.read_bytes() == index_before
    assert not list(session_dir.glob("*.corrupt-*"))


def _odd_entries(folder: Path) -> list[str]:
    """A FIFO, a link to /dev/zero, a folder and a socket, each named like a session."""
    os.mkfifo(folder / "fifo.json")
    os.symlink("/dev/zero", folder / "zero.json")
    (folder / "adir.json").mkdir()
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(folder / "sock.json"))
    sock.close()
    return ["fifo", "zero", "adir", "sock"]


def test_odd_entries_named_like_sessions_never_hang_or_break_listing(session_dir: Path) -> None:
    Session(session_id="good", title="good").save()
    names = _odd_entries(session_dir)
    models.SESSION_INDEX_FILE.unlink()  # force a rebuild that walks the folder
    rows = _within(10, models.list_sessions)
    assert [r.id for r in rows] == ["good"]
    for name in names:
        with pytest.raises(UnreadableSessionError, match=name):
            _within(10, lambda n=name: Session.load(n))  # type: ignore[misc]
    assert (session_dir / "fifo.json").exists() and (session_dir / "adir.json").is_dir()
    assert not list(session_dir.glob("*.corrupt-*"))  # left alone, not "repaired"


def test_an_index_that_is_a_fifo_is_rebuilt_from_the_files(session_dir: Path) -> None:
    Session(session_id="good").save()
    models.SESSION_INDEX_FILE.unlink()
    os.mkfifo(models.SESSION_INDEX_FILE)
    rows = _within(10, models.list_sessions)
    assert [r.id for r in rows] == ["good"]


def test_a_file_over_the_size_limit_is_not_read(session_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s = Session(session_id="big", messages=[{"role": "user", "content": "x" * 5000}])
    s.save()
    monkeypatch.setattr(diskstate, "MAX_FILE_BYTES", 1000)
    with pytest.raises(UnreadableSessionError, match="limit"):
        Session.load("big")
    assert s.path.exists()


def test_deep_nesting_is_a_corrupt_file_not_a_recursion_error(session_dir: Path) -> None:
    nested = b"[" * 100_000 + b"]" * 100_000  # 200 KB
    (session_dir / "deep.json").write_bytes(b'{"session_id": "deep", "messages": ' + nested + b"}")
    with pytest.raises(CorruptSessionError):
        Session.load("deep")
    assert list(session_dir.glob("deep.json.corrupt-*"))
    models.SESSION_INDEX_FILE.write_bytes(nested)
    Session(session_id="fine").save()
    assert [r.id for r in models.list_sessions()] == ["fine"]


# --------------------------------------------------------------------------- wrong field types


def test_wrong_field_types_are_set_aside_not_fatal(session_dir: Path) -> None:
    good = Session(session_id="ok", title="fine")
    good.save()
    data = {
        "session_id": "odd", "title": 42, "created_at": "yesterday", "manual_title": "yes",
        "pending_messages": "oops", "pending_partial_text": 7,
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": None, "tool_calls": "not a list"},
            17,
            {"role": "tool", "tool_call_id": 5, "content": {"x": 1}},
        ],
    }
    (session_dir / "odd.json").write_text(json.dumps(data))
    models.SESSION_INDEX_FILE.unlink()
    models.consume_warnings()
    assert sorted(r.id for r in models.list_sessions()) == ["odd", "ok"]
    s = models.get_session("odd")
    notes = models.consume_warnings()
    assert len(notes) == 1 and "title" in notes[0] and "messages[1].tool_calls" in notes[0]
    assert s.title == "42" and s.created_at == 0.0 and s.pending_messages == []
    assert [m["role"] for m in s.messages] == ["user", "assistant", "tool"]
    assert turn_history.close_open_calls(s.messages, "x")  # every turn still usable
    assert s.messages[2]["tool_call_id"] == "5" and s.messages[2]["content"] == "{'x': 1}"
    s.save()  # nothing the file held is lost
    saved = json.loads(s.path.read_text())
    assert saved["invalid_fields"]["title"] == 42
    assert saved["invalid_fields"]["messages"] == [17]
    assert saved["messages"][1]["invalid_tool_calls"] == "not a list"
    assert Session.load("odd") == s


def test_index_rows_of_wrong_types_are_coerced(session_dir: Path) -> None:
    Session(session_id="ok", title="fine").save()
    rows = json.loads(models.SESSION_INDEX_FILE.read_text())
    rows.append({"session_id": "num", "title": 5, "notebook": 3, "updated_at": "x", "message_count": "many"})
    models.SESSION_INDEX_FILE.write_text(json.dumps(rows))
    listed = {r.id: r for r in models.list_sessions(include_all=True)}
    assert sorted(listed) == ["num", "ok"]
    assert listed["num"].title == "5" and listed["num"].notebook == "3" and listed["num"].message_count == 0


@pytest.mark.parametrize("bad_row", [{"session_id": "../../etc/passwd"}, {"session_id": 12}, "not a row", {"session_id": "_index"}])
def test_an_index_row_without_a_valid_id_rebuilds_the_index(session_dir: Path, bad_row: Any) -> None:
    Session(session_id="ok", title="fine").save()
    rows = json.loads(models.SESSION_INDEX_FILE.read_text())
    models.SESSION_INDEX_FILE.write_text(json.dumps([*rows, bad_row]))
    models.consume_warnings()
    assert [r.id for r in models.list_sessions(include_all=True)] == ["ok"]
    assert any("rebuilt" in n for n in models.consume_warnings())
    assert [r["session_id"] for r in json.loads(models.SESSION_INDEX_FILE.read_text())] == ["ok"]


# --------------------------------------------------------------------------- the index layout


def test_the_index_is_a_list_of_rows_named_by_session_id(session_dir: Path) -> None:
    Session(session_id="s4").save()
    Session(session_id="s5").save()
    data = json.loads(models.SESSION_INDEX_FILE.read_text())
    assert isinstance(data, list)
    assert [e["session_id"] for e in data] == ["s5", "s4"]
    assert all("id" not in e and e["index_version"] >= 2 for e in data)


def test_an_index_in_the_older_layout_is_read_and_migrated(session_dir: Path) -> None:
    Session(session_id="old1", title="one", updated_at=1.0).save(touch_updated_at=False)
    old = {"version": 1, "sessions": [
        {"id": "old1", "title": "one", "notebook": None, "model": None, "created_at": 1.0,
         "updated_at": 1.0, "message_count": 0, "pending": False}]}
    models.SESSION_INDEX_FILE.write_text(json.dumps(old))
    assert [r.id for r in models.list_sessions()] == ["old1"]
    Session(session_id="new2").save()
    data = json.loads(models.SESSION_INDEX_FILE.read_text())
    assert [e["session_id"] for e in data] == ["new2", "old1"]


# --------------------------------------------------------------------------- folders


def test_a_session_dir_that_is_a_file_is_refused_and_the_old_folder_kept(session_dir: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    for bad in (blocker, blocker / "sessions"):
        with pytest.raises(SessionWriteError, match="session_dir"):
            models.set_session_dir(bad)
        assert models.SESSION_DIR == session_dir
    assert blocker.read_text() == "not a folder"


def test_switching_folders_never_serves_the_old_folders_sessions(session_dir: Path, tmp_path: Path) -> None:
    Session(session_id="same", title="in A").save()
    assert models.get_session("same").title == "in A"
    other = tmp_path / "B"
    models.set_session_dir(other)
    Session(session_id="same", title="in B").save()
    models.set_session_dir(session_dir)
    assert models.get_session("same").title == "in A"
    models.set_session_dir(other)
    assert models.get_session("same").title == "in B"


def test_a_failed_save_is_one_line_and_leaves_files_intact(session_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s = Session(session_id="w", messages=[{"role": "user", "content": "keep"}])
    s.save()
    before = s.path.read_bytes()

    def no_space(*args: Any, **kwargs: Any) -> Any:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("hermes_nb.safety.fsio.tempfile.mkstemp", no_space)
    s.messages.append({"role": "user", "content": "more"})
    with pytest.raises(SessionWriteError, match="No space left on device.*session_dir"):
        s.save()
    assert s.path.read_bytes() == before


# --------------------------------------------------------------------------- restoring runs on load


def _pending(sid: str, **fields: Any) -> dict[str, Any]:
    return {"session_id": sid, "title": sid, "notebook": "nb.ipynb", "messages": [],
            "active_stream_id": "dead0000", "pending_user_message": "hello",
            "pending_started_at": time.time() - 5, **fields}


def test_one_odd_session_never_stops_the_others_from_being_restored(session_dir: Path) -> None:
    folder = session_dir
    (folder / "good.json").write_text(json.dumps(_pending("good")))
    (folder / "newer.json").write_text(json.dumps(_pending("newer", schema_version=99)))
    (folder / "typed.json").write_text(json.dumps(_pending("typed", pending_messages="x", pending_started_at="soon")))
    (folder / "broken.json").write_text("{not json")
    rows = [
        {"session_id": sid, "title": sid, "notebook": "nb.ipynb", "updated_at": 1.0, "pending": True}
        for sid in ("good", "newer", "typed", "broken", "missing")
    ]
    models.SESSION_INDEX_FILE.write_text(json.dumps(rows))
    models.SESSIONS.clear()
    models.consume_warnings()

    reports = streaming.restore_interrupted("nb.ipynb")
    assert sorted(r.session_id for r in reports) == ["good", "typed"]
    assert json.loads((folder / "good.json").read_text())["messages"][0]["content"] == "hello"
    assert json.loads((folder / "newer.json").read_text())["active_stream_id"] == "dead0000"  # untouched
    notes = " ".join(models.consume_warnings())
    assert "newer" in notes and "broken" in notes
    listed = {r.id: r for r in models.list_sessions(include_all=True)}
    assert "missing" not in listed and "broken" not in listed  # no pending row without a file
    assert list(folder.glob("broken.json.corrupt-*"))
    assert streaming.restore_interrupted("nb.ipynb") == []  # and the next load is quiet


def test_a_run_whose_first_save_fails_leaves_no_pending_state(session_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sid = models.new_session(title="t").session_id

    def failing_save(self: Session, *args: Any, **kwargs: Any) -> None:
        raise SessionWriteError("Cannot write sessions in /nowhere: disk full.")

    def disk_full(*args: Any, **kwargs: Any) -> Any:
        raise OSError(28, "No space left on device")

    # the pending mark is appended to the journal (a full save when it cannot be)
    real = (models.Session.save, journal.create, journal.append)
    monkeypatch.setattr(models.Session, "save", failing_save)
    monkeypatch.setattr(journal, "create", disk_full)
    monkeypatch.setattr(journal, "append", disk_full)
    run = streaming.Run(sid, "lost?")
    with pytest.raises(SessionWriteError):
        run.start()
    models.Session.save, journal.create, journal.append = real  # type: ignore[method-assign]
    s = models.get_session(sid)
    assert not s.pending and s.pending_messages == [] and s.active_stream_owner is None
    assert streaming.ACTIVE_RUNS.get(run.stream_id) is None
    # the next run starts clean: nothing "recovered" that never reached the disk
    nxt = streaming.Run(sid, "second try")
    nxt.start()
    nxt.fail(RuntimeError("stop"))
    assert not any(m.get("recovered") for m in models.get_session(sid).messages)
    assert [m["content"] for m in models.get_session(sid).messages if m["role"] == "user"] == ["second try"]
