"""``hermes_nb.config``, kept for code written against it: the session locks live in
``hermes_nb.store.locks`` and the notebook's location in
``hermes_nb.kernel.notebook_location``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from hermes_nb.kernel.notebook_location import NotebookLocation, find_notebook, session_dir_for
from hermes_nb.store.locks import (
    FILE_LOCK_POLL,
    SESSION_AGENT_LOCKS,
    SESSION_AGENT_LOCKS_LOCK,
    RunLock,
    SessionLock,
    _get_session_agent_lock,
    acquire_os_file_lock,
    alias_session_lock,
    os_file_lock,
)
from hermes_nb.store.locks import RunLock as _RunLock

if TYPE_CHECKING:
    import filelock


def run_lock(session_id: str) -> _RunLock:
    """The run lock of ``session_id`` in the kernel's store."""
    from hermes_nb.store.sessions import store

    return store().run_lock(session_id)


def session_file_lock(session_id: str, timeout: float = 30.0) -> filelock.FileLock:
    """Cross-process lock around a read-merge-write of one session file."""
    from hermes_nb.store.sessions import store

    return store().session_file_lock(session_id, timeout)


def save_lock_path(session_id: str) -> Path:
    from hermes_nb.store.sessions import store

    return store().save_lock_path(session_id)


__all__ = [
    "FILE_LOCK_POLL",
    "SESSION_AGENT_LOCKS",
    "SESSION_AGENT_LOCKS_LOCK",
    "NotebookLocation",
    "RunLock",
    "SessionLock",
    "_get_session_agent_lock",
    "acquire_os_file_lock",
    "alias_session_lock",
    "find_notebook",
    "os_file_lock",
    "run_lock",
    "save_lock_path",
    "session_dir_for",
    "session_file_lock",
]
