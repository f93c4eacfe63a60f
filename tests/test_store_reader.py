"""One store for the kernel and the server extension: a reader's store (confined to a
root, read-only) reads sessions with the kernel's reader, lists with the same cache of
index rows, and tells a live run the same way."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from dead_run import leave_dead_run, run_lock_held_elsewhere

from hermes_nb.errors import SessionWriteError, UnsafePathError
from hermes_nb.models import Session
from hermes_nb.serverext import api
from hermes_nb.store import diskstate, journal, jsonstream
from hermes_nb.store.session_store import SessionStore

NOTEBOOK = "work/analysis.ipynb"


@pytest.fixture
def root(tmp_path: Path, session_dir: Path) -> Path:
    """A server root whose ``work/`` notebook has the kernel's sessions folder."""
    (tmp_path / "work").mkdir()
    (tmp_path / NOTEBOOK).write_text("{}")
    folder = tmp_path / "work" / ".hermes_nb" / "sessions"
    folder.parent.mkdir()
    session_dir.mkdir(parents=True, exist_ok=True)
    folder.symlink_to(session_dir, target_is_directory=True)
    return tmp_path


def answered(sid: str, text: str = "Hello.", notebook: str = "analysis.ipynb") -> Session:
    session = Session(session_id=sid, title=f"Title {sid}", notebook=notebook)
    session.messages = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": text}]
    session.save()
    return session


def tree(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file() and not p.is_symlink()}


def reader(session_dir: Path, root: Path) -> SessionStore:
    return SessionStore(session_dir, root=root)


def test_a_readers_store_reads_what_the_kernel_reads(session_dir: Path, root: Path) -> None:
    """The same file with its journal folded in, without the journal's token."""
    session = answered("both")
    session.messages = [*session.messages, {"role": "user", "content": "More"},
                        {"role": "assistant", "content": "Appended."}]  # fmt: skip
    session.save_changes()
    assert journal.beside(session.path).exists()
    kernel_view, _, _ = diskstate.read_folded(session.path)
    served = reader(session_dir, root).read_dict("both")
    assert served is not None and journal.TOKEN_KEY not in served
    kernel_view.pop(journal.TOKEN_KEY)
    assert served == kernel_view
    assert [m["content"] for m in served["messages"]][-1] == "Appended."


def test_a_readers_store_parses_every_session_a_window_at_a_time(
    session_dir: Path, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The thread reading a session for the server lets the event loop run between
    windows, however small the file; the kernel parses a small file whole."""
    answered("small")
    parsed: list[int] = []
    real = jsonstream.load_object

    def spy(fd: int, limit: int) -> Any:
        parsed.append(limit)
        return real(fd, limit)

    monkeypatch.setattr(jsonstream, "load_object", spy)
    SessionStore(session_dir).read_dict("small")
    assert parsed == []
    assert reader(session_dir, root).read_dict("small") is not None
    assert parsed == [diskstate.Confinement(root).max_bytes]


@pytest.mark.parametrize("linked", ["json", "turn"])
def test_a_readers_store_reads_nothing_leading_out_of_its_root(
    session_dir: Path, root: Path, tmp_path_factory: pytest.TempPathFactory, linked: str
) -> None:
    session = answered("linked")
    session.messages = [*session.messages, {"role": "user", "content": "x"}]
    session.save_changes()
    outside = tmp_path_factory.mktemp("outside") / f"secret.{linked}"
    path = session.path if linked == "json" else journal.beside(session.path)
    os.replace(path, outside)
    path.symlink_to(outside)
    with pytest.raises(UnsafePathError, match="points outside"):
        reader(session_dir, root).read_dict("linked")
    assert SessionStore(session_dir).read_dict("linked") is not None  # the kernel follows its own links


def test_a_readers_store_refuses_odd_files_without_touching_them(session_dir: Path, root: Path) -> None:
    os.mkfifo(session_dir / "fifo.json")  # must not hang
    (session_dir / "broken.json").write_bytes(b'{"session_id": "broken", "messages": [')
    before = tree(session_dir)
    store = reader(session_dir, root)
    assert store.read_dict("fifo") is None and store.read_dict("broken") is None
    assert store.read_dict("missing") is None
    assert tree(session_dir) == before and not list(session_dir.glob("*.corrupt-*"))


def test_a_readers_store_never_writes(session_dir: Path, root: Path) -> None:
    answered("kept")
    before = tree(session_dir)
    store = reader(session_dir, root)
    for attempt in (
        lambda: store.new(title="No"),
        lambda: store.run_lock("kept"),
        lambda: store.session_file_lock("kept"),
        lambda: store.load("kept"),
        lambda: store.forget("kept"),
        lambda: store.point_at(session_dir),
    ):
        with pytest.raises(SessionWriteError, match="only read here"):
            attempt()
    session = Session(session_id="other", title="Not saved")
    session._store = store
    with pytest.raises(SessionWriteError):
        session.save()
    assert tree(session_dir) == before


def test_a_readers_store_lists_without_an_index_and_never_rebuilds_one(session_dir: Path, root: Path) -> None:
    """Without a usable index the files are listed; the index is left for a kernel."""
    answered("one")
    answered("two")
    index_file = session_dir / "_index.json"
    for damage in (b"not json", None):
        if damage is None:
            index_file.unlink()
        else:
            index_file.write_bytes(damage)
        before = tree(session_dir)
        listing = api.list_sessions(root, NOTEBOOK)
        assert {s["session_id"] for s in listing["sessions"]} == {"one", "two"}
        assert tree(session_dir) == before  # no index written, no file moved
    answered("three")  # a kernel's save writes the index again: the listing follows
    assert {s["session_id"] for s in api.list_sessions(root, NOTEBOOK)["sessions"]} == {"one", "two", "three"}


def test_the_kernel_parses_the_index_once_per_version(session_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = SessionStore(session_dir)
    answered("first")
    reads: list[str] = []
    real = diskstate.read_bounded

    def counting(path: Path, limit: int | None = None) -> tuple[bytes, os.stat_result]:
        reads.append(Path(path).name)
        return real(path, limit)

    monkeypatch.setattr(diskstate, "read_bounded", counting)
    assert [r.id for r in store.rows()] == ["first"]
    assert [r.id for r in store.rows()] == ["first"]
    assert reads.count("_index.json") == 1
    answered("second")  # this process's write: seen at once
    assert [r.id for r in store.rows()] == ["second", "first"]
    rows = store.rows()
    rows.clear()  # a caller's list is its own
    assert len(store.rows()) == 2
    text = (session_dir / "_index.json").read_text()
    (session_dir / "_index.json").write_text(text.replace("Title first", "Renamed elsewhere"))
    assert [r.title for r in store.rows() if r.id == "first"] == ["Renamed elsewhere"]


def test_one_liveness_check_for_the_kernel_and_the_server(session_dir: Path, root: Path) -> None:
    answered("idle")
    busy = answered("busy")
    leave_dead_run(busy.session_id)
    kernel, served = SessionStore(session_dir), reader(session_dir, root)
    for store in (kernel, served):
        assert not store.run_is_live("idle") and not store.run_is_live("busy")
    with run_lock_held_elsewhere(session_dir / "busy.run.lock"):
        for store in (kernel, served):
            assert store.run_is_live("busy")
        assert json.loads(api.list_sessions_body(root, NOTEBOOK))["sessions"][0]["status"] == "running"
