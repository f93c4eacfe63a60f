"""``hermes_nb.models``, kept for code written against it.

Sessions live in ``hermes_nb.store``: this module offers the same names as before
over the kernel's store. ``SESSION_DIR``, ``SESSION_INDEX_FILE``, ``SESSIONS`` and
``LOCK`` read the current store, and assigning one of them repoints that store (so
``monkeypatch.setattr(models, "SESSION_DIR", tmp)`` still moves the sessions).
"""

import os  # ``hermes_nb.models.os.replace`` is the ``os.replace`` every save calls
import sys
import types
from typing import Any

from hermes_nb.errors import (
    CorruptSessionError,
    InvalidSessionIdError,
    ReadOnlySessionError,
    SessionNotFoundError,
    SessionWriteError,
    UnreadableSessionError,
    UnsafeSaveError,
)
from hermes_nb.store import sessions as _sessions
from hermes_nb.store.sessions import (
    SCHEMA_VERSION,
    IndexRow,
    Session,
    check_session_dir,
    consume_warnings,
    ensure_session_dir,
    forget_session,
    get_session,
    latest_session_id,
    list_sessions,
    new_session,
    new_session_id,
    notice,
    refresh_session,
    session_summary,
    set_session_dir,
    validate_session_id,
    write_error,
)

__all__ = [
    "CorruptSessionError",
    "InvalidSessionIdError",
    "ReadOnlySessionError",
    "SessionNotFoundError",
    "SessionWriteError",
    "UnreadableSessionError",
    "UnsafeSaveError",
    "SCHEMA_VERSION",
    "IndexRow",
    "Session",
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
    "os",
    "refresh_session",
    "session_summary",
    "set_session_dir",
    "validate_session_id",
    "write_error",
]

def _forward(attr: str) -> property:
    """A module attribute that reads and sets ``attr`` of the current store (a data
    descriptor, so ``monkeypatch`` restores the value it replaced)."""

    def get(module: types.ModuleType) -> Any:
        return getattr(_sessions.store(), attr)

    def put(module: types.ModuleType, value: Any) -> None:
        setattr(_sessions.store(), attr, value)

    return property(get, put)


class _Models(types.ModuleType):
    SESSION_DIR = _forward("folder")
    SESSION_INDEX_FILE = _forward("index_file")
    SESSIONS = _forward("sessions")
    LOCK = _forward("lock")
    CHECKPOINT_FSYNC_DIR = _forward("checkpoint_fsync_dir")


sys.modules[__name__].__class__ = _Models
