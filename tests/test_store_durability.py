"""What ``Session.save``/``load`` do to keep data: permissions, backups, refusals,
corrupt files, temp files, concurrent saves."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest

from hermes_nb import models
from hermes_nb.errors import CorruptSessionError, UnsafeSaveError
from hermes_nb.models import Session
from hermes_nb.safety import fsio


def _msgs(n: int) -> list[dict]:
    return [{"role": "user" if i % 2 == 0 else "assistant", "content": f"m{i}"} for i in range(n)]


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_files_are_owner_only(session_dir: Path) -> None:
    s = models.new_session(title="p")
    s.messages = _msgs(3)
    s.save()
    s.messages = _msgs(1)
    s.save()  # writes a .bak
    assert _mode(session_dir) == 0o700
    assert _mode(session_dir.parent) == 0o700
    for name in (f"{s.session_id}.json", f"{s.session_id}.json.bak", "_index.json"):
        assert _mode(session_dir / name) == 0o600, name


def test_shrinking_save_keeps_a_backup(session_dir: Path) -> None:
    s = Session(session_id="shrink", messages=_msgs(4))
    s.save()
    bak = session_dir / "shrink.json.bak"
    s.messages.append({"role": "user", "content": "more"})
    s.save()
    assert not bak.exists()  # growing needs no backup
    s.messages = _msgs(2)
    s.save()
    assert len(json.loads(bak.read_text())["messages"]) == 5
    assert len(json.loads(s.path.read_text())["messages"]) == 2


def test_empty_over_non_empty_is_refused_while_pending(session_dir: Path) -> None:
    s = Session(session_id="pend", messages=_msgs(6), pending_user_message="go on")
    s.save()
    before = s.path.read_bytes()
    s.messages = []
    with pytest.raises(UnsafeSaveError, match="6 messages"):
        s.save()
    assert s.path.read_bytes() == before
    # a copy that does not know about the run is refused too: the file says it is pending
    other = Session(session_id="pend", messages=[])
    with pytest.raises(UnsafeSaveError):
        other.save(skip_index=True)
    assert s.path.read_bytes() == before


def test_empty_save_without_a_run_is_allowed_with_backup(session_dir: Path) -> None:
    s = Session(session_id="clear", messages=_msgs(3))
    s.save()
    s.messages = []
    s.save()
    assert json.loads(s.path.read_text())["messages"] == []
    assert len(json.loads((session_dir / "clear.json.bak").read_text())["messages"]) == 3


def test_other_process_write_is_noticed(session_dir: Path) -> None:
    """The safety checks read the file when someone else wrote it since our last look."""
    s = Session(session_id="ext", messages=_msgs(1), active_stream_id="r")
    s.save()
    data = s.to_dict()
    data["messages"] = _msgs(8)
    s.path.write_text(json.dumps(data))  # as another kernel would
    s.messages = []
    with pytest.raises(UnsafeSaveError, match="8 messages"):
        s.save()


# --------------------------------------------------------------------------- corrupt files

CORRUPT = {
    "truncated": lambda good: good[: len(good) // 2],
    "binary": lambda good: bytes(range(256)) * 4,
    "empty": lambda good: b"",
    "not_an_object": lambda good: b"[1, 2, 3]",
    "messages_not_a_list": lambda good: json.dumps({"session_id": "bad", "messages": 3}).encode(),
    "deeply_nested": lambda good: b'{"session_id": "bad", "messages": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
    "other_id": lambda good: json.dumps({"session_id": "someone", "messages": []}).encode(),
}


@pytest.mark.parametrize("kind", sorted(CORRUPT))
def test_corrupt_file_is_moved_aside_and_named(session_dir: Path, kind: str) -> None:
    s = Session(session_id="bad", messages=_msgs(2))
    s.save()
    garbage = CORRUPT[kind](s.path.read_bytes())
    s.path.write_bytes(garbage)
    models.consume_warnings()
    with pytest.raises(CorruptSessionError) as err:
        Session.load("bad")
    assert str(s.path) in str(err.value)
    moved = list(session_dir.glob("bad.json.corrupt-*"))
    assert len(moved) == 1 and moved[0].name in str(err.value)
    assert moved[0].read_bytes() == garbage  # never deleted
    assert not s.path.exists()
    assert any(moved[0].name in n for n in models.consume_warnings())
    assert Session.load("bad") is None  # gone from its place, not resurrected


@pytest.mark.parametrize("kind", ["truncated", "binary", "empty"])
def test_corrupt_file_falls_back_to_backup(session_dir: Path, kind: str) -> None:
    s = Session(session_id="bk", messages=_msgs(5))
    s.save()
    s.messages = _msgs(3)
    s.save()  # .bak holds 5 messages
    s.path.write_bytes(CORRUPT[kind](s.path.read_bytes()))
    models.consume_warnings()
    loaded = Session.load("bk")
    assert loaded is not None and len(loaded.messages) == 5
    notices = models.consume_warnings()
    assert len(notices) == 1 and "bk.json" in notices[0] and "bk.json.bak" in notices[0]
    assert len(list(session_dir.glob("bk.json.corrupt-*"))) == 1
    assert Session.load("bk") == loaded  # restored in place


def test_two_corruptions_never_overwrite_each_other(session_dir: Path) -> None:
    for garbage in (b"{", b"}"):
        (session_dir / "twice.json").write_bytes(garbage)
        with pytest.raises(CorruptSessionError):
            Session.load("twice")
    kept = sorted(p.read_bytes() for p in session_dir.glob("twice.json.corrupt-*"))
    assert kept == [b"{", b"}"]


def test_save_over_a_corrupt_file_moves_it_aside(session_dir: Path) -> None:
    (session_dir / "over.json").write_bytes(b"\x00garbage")
    Session(session_id="over", messages=_msgs(1)).save()
    assert [p.read_bytes() for p in session_dir.glob("over.json.corrupt-*")] == [b"\x00garbage"]
    assert Session.load("over") is not None


# --------------------------------------------------------------------------- temp files


def test_old_temp_files_are_swept(session_dir: Path) -> None:
    old = session_dir / f"{fsio.TEMP_PREFIX}x.json.abc{fsio.TEMP_SUFFIX}"
    young = session_dir / f"{fsio.TEMP_PREFIX}y.json.def{fsio.TEMP_SUFFIX}"
    other = session_dir / "keep.json"
    for p in (old, young, other):
        p.write_text("{}")
    past = time.time() - 3600
    os.utime(old, (past, past))
    os.utime(other, (past, past))
    models.set_session_dir(session_dir)
    assert not old.exists()
    assert young.exists() and other.exists()
    assert fsio.sweep_temp_files(session_dir, max_age=0) == [young]


def test_failed_write_leaves_no_temp_file(session_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s = Session(session_id="fail", messages=_msgs(1))
    s.save()

    def boom(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(models.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        s.save(skip_index=True)
    monkeypatch.undo()
    assert sorted(p.name for p in session_dir.iterdir() if not p.name.endswith(".lock")) == [
        "_index.json",
        "fail.json",
    ]


# --------------------------------------------------------------------------- concurrency


def test_concurrent_saves_use_distinct_temp_paths(
    session_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sources: list[str] = []
    real_replace = os.replace

    def recording_replace(src: str, dst: str) -> None:
        sources.append(str(src))
        real_replace(src, dst)

    monkeypatch.setattr(models.os, "replace", recording_replace)
    s = Session(session_id="many", messages=_msgs(20))
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            for _ in range(10):
                s.save(skip_index=True)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    saves = [p for p in sources if Path(p).name.startswith(fsio.TEMP_PREFIX + "many.json.")]
    assert len(saves) == 80
    assert len(set(saves)) == 80


def test_eight_threads_save_while_a_reader_parses(session_dir: Path) -> None:
    s = Session(session_id="hot", messages=_msgs(50))
    s.save()
    stop = threading.Event()
    errors: list[BaseException] = []
    reads = 0

    def reader() -> None:
        nonlocal reads
        while not stop.is_set():
            try:
                data = json.loads(s.path.read_bytes())
                assert data["session_id"] == "hot"
                reads += 1
            except BaseException as exc:
                errors.append(exc)
                return

    def writer(n: int) -> None:
        try:
            for i in range(200):
                s.title = f"t{n}-{i}"
                s.save(skip_index=i % 50 != 0)
        except BaseException as exc:
            errors.append(exc)

    r = threading.Thread(target=reader)
    r.start()
    writers = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in writers:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    r.join()
    assert errors == []
    assert reads > 0
    loaded = Session.load("hot")
    assert loaded is not None and len(loaded.messages) == 50
    assert not list(session_dir.glob(f"{fsio.TEMP_PREFIX}*"))
