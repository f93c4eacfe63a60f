"""The names code written against hermes_nb 0.1 imports still work, over the store.

``hermes_nb.models``, ``config``, ``session_ops`` and ``streaming`` are thin modules
over ``hermes_nb.store`` and ``hermes_nb.kernel``: assigning ``models.SESSION_DIR``
(or ``SESSION_INDEX_FILE``, ``SESSIONS``) repoints the kernel's store, patching
``models.os.replace`` patches what every save calls, and the functions are the ones
the new packages run.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from hermes_nb import config, models, session_ops, streaming
from hermes_nb.kernel import run_lifecycle
from hermes_nb.store import locks, sessions
from hermes_nb.store import session_ops as store_ops
from hermes_nb.store.session_store import SessionStore


def test_assigning_session_dir_repoints_the_kernels_store(tmp_path: Path, session_dir: Path) -> None:
    other = tmp_path / "elsewhere"
    other.mkdir()
    before = models.SESSION_DIR
    models.SESSION_DIR = other
    models.SESSION_INDEX_FILE = other / "_index.json"
    try:
        assert sessions.store().folder == other and sessions.session_dir() == other
        sid = models.new_session(title="moved").session_id
        assert (other / f"{sid}.json").is_file()
        assert not (session_dir / f"{sid}.json").exists()
        assert [r.id for r in models.list_sessions()] == [sid]
        assert sid in (other / "_index.json").read_text()
        assert models.get_session(sid).path == other / f"{sid}.json"
    finally:
        models.SESSION_DIR = before
        models.SESSION_INDEX_FILE = before / "_index.json"


def test_monkeypatching_the_store_globals_is_undone(session_dir: Path, tmp_path: Path) -> None:
    store = sessions.store()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(models, "SESSION_DIR", tmp_path)
        mp.setattr(models, "SESSIONS", {})
        assert store.folder == tmp_path and store.sessions == {}
    assert store.folder == session_dir and models.SESSION_DIR == session_dir
    assert store.sessions is models.SESSIONS and not isinstance(models.SESSIONS, dict)


def test_sessions_and_session_object(session_dir: Path) -> None:
    s = models.new_session(title="t")
    assert isinstance(s, models.Session)
    assert models.SESSIONS[s.session_id] is s
    assert models.get_session(s.session_id) is s
    assert s.store is sessions.store()


def test_patching_models_os_replace_reaches_every_save(session_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    real = os.replace

    def recording(src: Any, dst: Any) -> None:
        seen.append(Path(dst).name)
        real(src, dst)

    monkeypatch.setattr(models.os, "replace", recording)
    s = models.new_session(title="t")
    assert f"{s.session_id}.json" in seen and "_index.json" in seen


def test_lock_and_op_names(session_dir: Path) -> None:
    assert config._get_session_agent_lock is locks._get_session_agent_lock
    assert config.SESSION_AGENT_LOCKS is locks.SESSION_AGENT_LOCKS
    lock = config._get_session_agent_lock("abc")
    assert config.SESSION_AGENT_LOCKS["abc"] is lock
    assert session_ops is store_ops
    assert session_ops.undo_last is store_ops.undo_last and session_ops.retry_last is store_ops.retry_last
    assert streaming is run_lifecycle and streaming.cancel_stream is run_lifecycle.cancel_stream


def test_undo_and_retry_through_the_old_names(session_dir: Path) -> None:
    s = models.new_session(title="t")
    s.messages = [
        {"role": "user", "content": "one"}, {"role": "assistant", "content": "1"},
        {"role": "user", "content": "two"}, {"role": "assistant", "content": "2"},
    ]  # fmt: skip
    s.save()
    assert session_ops.retry_last(s.session_id) == "two"
    removed = session_ops.undo_last(s.session_id)
    assert [m["content"] for m in removed] == ["one", "1"]
    assert models.get_session(s.session_id, refresh=True).messages == []


def test_a_store_of_its_own_does_not_touch_the_kernels(tmp_path: Path, session_dir: Path) -> None:
    own = SessionStore(tmp_path / "own")
    s = own.new(title="mine")
    assert (tmp_path / "own" / f"{s.session_id}.json").is_file()
    assert s.session_id not in models.SESSIONS
    assert [r.id for r in own.rows()] == [s.session_id]
    assert models.list_sessions() == []
