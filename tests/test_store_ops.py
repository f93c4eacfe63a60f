"""undo / retry / rename / delete / fork."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from hermes_nb import models, session_ops
from hermes_nb.config import _get_session_agent_lock
from hermes_nb.errors import (
    NothingToUndoError,
    RunClaimedError,
    SessionNotFoundError,
    UnsafeSaveError,
)
from hermes_nb.models import Session


def _conversation() -> list[dict]:
    return [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "one"},
        {"role": "user", "content": "second"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "python", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "42"},
        {"role": "assistant", "content": "two"},
    ]


@pytest.fixture
def sid(session_dir: Path) -> str:
    s = models.new_session(title="conv")
    s.messages = _conversation()
    s.save()
    return s.session_id


def _disk_messages(sid: str) -> list[dict]:
    return json.loads((models.SESSION_DIR / f"{sid}.json").read_text())["messages"]


def test_undo_removes_last_exchange_on_the_canonical_object(sid: str) -> None:
    canonical = models.get_session(sid)
    removed = session_ops.undo_last(sid)
    assert [m.get("content") for m in removed] == ["second", None, "42", "two"]
    assert models.get_session(sid) is canonical
    assert canonical.messages == _conversation()[:2]
    assert _disk_messages(sid) == _conversation()[:2]
    assert models.list_sessions()[0].message_count == 2
    session_ops.undo_last(sid)
    assert canonical.messages == []
    with pytest.raises(NothingToUndoError, match="Nothing to undo") as err:
        session_ops.undo_last(sid)
    assert isinstance(err.value, ValueError)


def test_retry_returns_the_user_text(sid: str) -> None:
    assert session_ops.retry_last(sid) == "second"
    assert _disk_messages(sid) == _conversation()[:2]
    assert session_ops.retry_last(sid) == "first"
    with pytest.raises(ValueError, match="retry"):
        session_ops.retry_last(sid)


def test_undo_waits_for_the_agent_lock(sid: str) -> None:
    lock = _get_session_agent_lock(sid)
    done = threading.Event()
    lock.acquire()
    t = threading.Thread(target=lambda: (session_ops.undo_last(sid), done.set()))
    t.start()
    assert not done.wait(0.2)  # blocked while the lock is held
    assert len(_disk_messages(sid)) == 6
    lock.release()
    assert done.wait(5)
    t.join()
    assert len(_disk_messages(sid)) == 2
    assert not lock.locked()


def test_undone_messages_never_come_back(sid: str) -> None:
    stale = Session.load(sid)  # a copy taken before the undo
    canonical = models.get_session(sid)
    session_ops.undo_last(sid)
    assert stale is not None
    stale.title = "stale write"
    stale.save(skip_index=True)  # merged: its change is kept, the undo too
    assert _disk_messages(sid) == _conversation()[:2]
    assert json.loads((models.SESSION_DIR / f"{sid}.json").read_text())["title"] == "stale write"
    # a copy that never read the file cannot bring the messages back either
    blind = Session(session_id=sid, messages=_conversation())
    with pytest.raises(UnsafeSaveError, match="undone or retried"):
        blind.save(skip_index=True)
    # checkpoints through the canonical object keep the undo
    canonical.save(skip_index=True)
    canonical.save()
    assert _disk_messages(sid) == _conversation()[:2]
    # and a fresh load after the undo may save again
    fresh = Session.load(sid)
    assert fresh is not None
    fresh.save()


def test_undo_refused_while_a_run_is_active(sid: str) -> None:
    s = models.get_session(sid)
    s.active_stream_id = "run-1"
    with pytest.raises(RunClaimedError):
        session_ops.undo_last(sid)
    assert s.messages == _conversation()


def test_undo_unknown_session(session_dir: Path) -> None:
    with pytest.raises(SessionNotFoundError):
        session_ops.undo_last("nope")


def test_failed_save_leaves_memory_unchanged(sid: str) -> None:
    s = models.get_session(sid)
    s.read_only = True
    with pytest.raises(models.ReadOnlySessionError):
        session_ops.undo_last(sid)
    assert s.messages == _conversation() and s.history_rev == 0


def test_rename_sets_manual_title(sid: str) -> None:
    s = session_ops.rename_session(sid, "  Revenue   by month ")
    assert s is models.get_session(sid)
    assert s.title == "Revenue by month" and s.manual_title
    assert models.list_sessions()[0].title == "Revenue by month"
    assert Session.load(sid).manual_title  # type: ignore[union-attr]
    with pytest.raises(ValueError):
        session_ops.rename_session(sid, "   ")


def test_delete_moves_to_trash(sid: str, session_dir: Path) -> None:
    s = models.get_session(sid)
    s.messages = s.messages[:2]
    s.save()  # leaves a .bak too
    target = session_ops.delete_session(sid)
    assert target.parent == session_dir / ".trash"
    assert json.loads(target.read_text())["session_id"] == sid
    assert target.with_name(target.name + ".bak").exists()
    assert not (session_dir / f"{sid}.json").exists()
    assert not (session_dir / f"{sid}.json.bak").exists()
    assert sid not in models.SESSIONS
    assert models.list_sessions() == []
    with pytest.raises(SessionNotFoundError):
        models.get_session(sid)
    with pytest.raises(SessionNotFoundError):
        session_ops.delete_session(sid)


def test_delete_refused_while_running(sid: str) -> None:
    models.get_session(sid).active_stream_id = "r"
    with pytest.raises(RunClaimedError):
        session_ops.delete_session(sid)
    assert (models.SESSION_DIR / f"{sid}.json").exists()


def test_fork(sid: str) -> None:
    child = session_ops.fork_session(sid, 2)
    assert child.session_id != sid
    assert child.parent_session_id == sid
    assert child.messages == _conversation()[:2]
    assert models.get_session(child.session_id) is child
    child.messages[0]["content"] = "edited"  # a deep copy: the parent is unchanged
    assert models.get_session(sid).messages[0]["content"] == "first"
    full = session_ops.fork_session(sid)
    assert full.messages == _conversation()
    assert Session.load(full.session_id).parent_session_id == sid  # type: ignore[union-attr]
    assert {r.id for r in models.list_sessions()} == {sid, child.session_id, full.session_id}
    with pytest.raises(ValueError):
        session_ops.fork_session(sid, -1)
