"""The kernel's sessions: the current store's operations as plain functions.

The kernel works in one folder at a time (the notebook's), so its code says
``sessions.get_session(sid)`` rather than passing a store around; each function here
asks ``current_store()``. Code that serves several folders (the server extension) or
a test's temp folder makes its own ``SessionStore``.

Problems the user should hear about (a corrupt file moved aside, a read-only session)
are logged on ``hermes_nb.store`` and queued: ``consume_warnings()`` returns them
once, so the magic can print one line per notice in the cell.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import cast

from hermes_nb.store import session as _session
from hermes_nb.store.folders import check_dir as check_session_dir
from hermes_nb.store.folders import write_error
from hermes_nb.store.index import IndexRow
from hermes_nb.store.notices import consume_warnings, notice
from hermes_nb.store.session import (
    SCHEMA_VERSION,
    Session,
    current_store,
    new_session_id,
    use_store,
    validate_session_id,
)
from hermes_nb.store.session_store import SessionStore

__all__ = [
    "SCHEMA_VERSION",
    "IndexRow",
    "Session",
    "SessionStore",
    "check_session_dir",
    "consume_warnings",
    "ensure_session_dir",
    "forget_session",
    "get_session",
    "latest_session_id",
    "list_sessions",
    "new_session",
    "new_session_id",
    "notice",
    "refresh_session",
    "session_dir",
    "session_summary",
    "set_session_dir",
    "store",
    "use_store",
    "validate_session_id",
    "write_error",
]


if not _session._CURRENT:
    # Until the kernel finds its notebook: the working directory's sessions folder.
    use_store(SessionStore(Path.cwd() / ".hermes_nb" / "sessions"))


def store() -> SessionStore:
    """The kernel's store (the notebook's sessions folder)."""
    return cast(SessionStore, current_store())


def session_dir() -> Path:
    """The kernel's sessions folder."""
    return store().folder


def set_session_dir(path: str | os.PathLike[str]) -> Path:
    """Point the kernel's store at ``path`` (``SessionStore.point_at``)."""
    return store().point_at(path)


def ensure_session_dir() -> Path:
    return store().ensure_dir()


def get_session(session_id: str, refresh: bool = False) -> Session:
    """The canonical session object (``SessionStore.get``)."""
    return store().get(session_id, refresh)


def refresh_session(session_id: str) -> Session:
    return store().refresh(session_id)


def session_summary(session_id: str) -> IndexRow:
    return store().summary(session_id)


def forget_session(session_id: str) -> None:
    store().forget(session_id)


def new_session(title: str | None = None, notebook: str | None = None, model: str | None = None) -> Session:
    """Create, save and cache a new session in the kernel's store."""
    return store().new(title, notebook, model)


def list_sessions(notebook: str | None = None, include_all: bool = False) -> list[IndexRow]:
    """Index rows, newest first: all of them, or one notebook's when ``notebook`` is given."""
    return store().rows(notebook, include_all)


def latest_session_id(notebook: str | None) -> str | None:
    return store().latest_id(notebook)
