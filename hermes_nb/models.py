"""Sessions: the dataclass, its JSON file, the index and the in-memory cache.

A session is ``SESSION_DIR/<session_id>.json``. Module globals are read at call time
so a test (or ``set_session_dir``) can point the store at another folder.

Safety rules enforced by ``Session.save``:

* every write is atomic (``fsio``), through a unique temp file, and the file is
  fsynced; a full save also fsyncs the folder, a checkpoint only if
  ``CHECKPOINT_FSYNC_DIR`` (a crash then still finds this or the previous checkpoint);
* a write that shrinks the message list keeps the previous file as ``<id>.json.bak``;
* replacing a non-empty message list by an empty one while a run is pending is refused;
* a copy loaded before an undo/retry cannot write the undone messages back: undo and
  retry bump ``history_rev`` and a save with an older ``history_rev`` than the file's
  is refused (the canonical object in ``SESSIONS`` is always current);
* a file written by a newer schema is read-only here.

Problems the user should hear about (a corrupt file moved aside, a read-only session)
are logged on ``hermes_nb.store`` and queued: ``consume_warnings()`` returns them
once, so the magic can print one line per notice in the cell.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import re
import secrets
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from hermes_nb import config as _config
from hermes_nb import diskstate
from hermes_nb import index as _index
from hermes_nb.cache import SessionCache
from hermes_nb.errors import (
    CorruptSessionError,
    InvalidSessionIdError,
    ReadOnlySessionError,
    SessionNotFoundError,
    UnsafeSaveError,
)
from hermes_nb.fsio import atomic_write_bytes, sweep_temp_files
from hermes_nb.index import IndexRow

__all__ = [
    "LOCK",
    "SCHEMA_VERSION",
    "SESSIONS",
    "SESSION_DIR",
    "SESSION_INDEX_FILE",
    "IndexRow",
    "Session",
    "consume_warnings",
    "ensure_session_dir",
    "get_session",
    "latest_session_id",
    "list_sessions",
    "new_session",
    "new_session_id",
    "set_session_dir",
    "validate_session_id",
]

log = logging.getLogger("hermes_nb.store")

SCHEMA_VERSION = 1
SESSION_DIR: Path = Path.cwd() / ".hermes_nb" / "sessions"
SESSION_INDEX_FILE: Path = SESSION_DIR / "_index.json"
#: session id -> the canonical ``Session`` of this kernel (LRU, never evicts a live run).
SESSIONS: SessionCache = SessionCache()
#: Guards ``SESSIONS`` for get-or-load.
LOCK = threading.RLock()

#: Whether checkpoint saves (``skip_index=True``) also fsync the folder, so that a
#: checkpoint survives a power cut, not only a kernel crash. Off, the folder may show
#: the previous checkpoint after a power cut (the file itself is always fsynced before
#: the rename, so it is complete either way); a small checkpoint then costs ~20% less.
CHECKPOINT_FSYNC_DIR = True

_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_NOTICES: collections.deque[str] = collections.deque(maxlen=100)


# --------------------------------------------------------------------------- helpers


def validate_session_id(session_id: object) -> str:
    """Return the id if it is ``[A-Za-z0-9_-]{1,64}``; anything else could escape the folder."""
    if not isinstance(session_id, str) or not _ID_RE.fullmatch(session_id):
        raise InvalidSessionIdError(
            f"Invalid session id {session_id!r}: use 1-64 letters, digits, '_' or '-'."
        )
    return session_id


def new_session_id() -> str:
    """A sortable, unguessable id: ``20250101_120000_1a2b3c4d``."""
    return time.strftime("%Y%m%d_%H%M%S") + "_" + secrets.token_hex(4)


def _notice(message: str) -> None:
    log.warning("%s", message)
    _NOTICES.append(message)


def consume_warnings() -> list[str]:
    """Notices queued since the last call (each returned once), oldest first."""
    out: list[str] = []
    while True:
        try:
            out.append(_NOTICES.popleft())
        except IndexError:
            return out


def ensure_session_dir() -> Path:
    """Create ``SESSION_DIR`` (owner-only) if needed and return it."""
    folder = SESSION_DIR
    if not folder.is_dir():
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        for part in (folder, folder.parent):
            if part.name in ("sessions", ".hermes_nb"):
                try:
                    os.chmod(part, 0o700)
                except OSError:
                    pass
    return folder


def set_session_dir(path: str | os.PathLike[str]) -> Path:
    """Point the store at ``path`` (created 0700) and sweep temp files left by crashes."""
    global SESSION_DIR, SESSION_INDEX_FILE
    SESSION_DIR = Path(path).expanduser().absolute()
    SESSION_INDEX_FILE = SESSION_DIR / "_index.json"
    ensure_session_dir()
    sweep_temp_files(SESSION_DIR)
    return SESSION_DIR


# --------------------------------------------------------------------------- locks

#: In-process guard in front of each session's save lock file (threads then wait on a
#: real lock instead of polling the file); weak values, like the agent locks.
_SAVE_LOCKS: weakref.WeakValueDictionary[str, _config.SessionLock] = weakref.WeakValueDictionary()
_SAVE_LOCKS_LOCK = threading.Lock()


def _save_lock(session_id: str) -> _config.SessionLock:
    with _SAVE_LOCKS_LOCK:
        lock = _SAVE_LOCKS.get(session_id)
        if lock is None:
            lock = _SAVE_LOCKS[session_id] = _config.SessionLock()
        return lock


@contextmanager
def _saving(session_id: str) -> Iterator[None]:
    """This session's in-process lock, then its lock file (other kernels)."""
    with _save_lock(session_id), _config.os_file_lock(_config.save_lock_path(session_id)):
        yield


def _corrupt_moved(path: Path, moved: Path) -> None:
    _notice(f"Session file {path} did not parse; it was moved to {moved.name}.")


# --------------------------------------------------------------------------- Session

_COERCE: dict[str, Any] = {
    "created_at": float, "updated_at": float, "input_tokens": int, "output_tokens": int,
    "estimated_cost": float, "manual_title": bool, "schema_version": int, "history_rev": int,
}  # fmt: skip
_LISTS = ("messages", "pending_attachments", "pending_messages")


@dataclass
class Session:
    """One conversation. ``SESSIONS`` holds the canonical object of each loaded session."""

    session_id: str = field(default_factory=new_session_id)
    title: str = "New session"
    notebook: str | None = None
    model: str | None = None
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    messages: list[dict[str, Any]] = field(default_factory=list)
    active_stream_id: str | None = None
    active_stream_owner: dict[str, Any] | None = None
    pending_user_message: str | None = None
    pending_attachments: list[Any] = field(default_factory=list)
    pending_started_at: float | None = None
    pending_messages: list[dict[str, Any]] = field(default_factory=list)
    pending_partial_text: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    estimated_cost: float = 0.0
    manual_title: bool = False
    parent_session_id: str | None = None
    schema_version: int = SCHEMA_VERSION
    history_rev: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    read_only: bool = field(default=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        validate_session_id(self.session_id)

    @property
    def path(self) -> Path:
        return SESSION_DIR / f"{self.session_id}.json"

    @property
    def pending(self) -> bool:
        """A run is active or its user message still waits to become history."""
        return bool(self.active_stream_id or self.pending_user_message)

    # ---------------------------------------------------------------- (de)serialise

    def to_dict(self) -> dict[str, Any]:
        """The JSON object written to disk; unknown keys from ``extra`` sit at top level."""
        data: dict[str, Any] = dict(self.extra)
        for f in _FIELDS:
            data[f] = getattr(self, f)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Session:
        """Build from a file's JSON; raises ``ValueError``/``TypeError`` on a wrong shape."""
        kwargs: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in data.items():
            if key in _FIELD_SET:
                if key in _COERCE and value is not None:
                    value = _COERCE[key](value)
                elif key in _LISTS and not isinstance(value, list):
                    raise TypeError(f"{key} is not a list")
                kwargs[key] = value
            elif key not in ("extra", "read_only"):
                extra[key] = value
        if not all(isinstance(m, dict) for m in kwargs.get("messages", [])):
            raise TypeError("a message is not an object")
        kwargs.setdefault("schema_version", SCHEMA_VERSION)
        return cls(extra=extra, **kwargs)

    # ---------------------------------------------------------------- save / load

    def save(self, skip_index: bool = False, touch_updated_at: bool = True) -> None:
        """Write the session atomically, then upsert its index row unless ``skip_index``.

        Does not take the agent lock (callers hold it); it does take this session's
        file lock so the safety checks and the write are one step across kernels.
        """
        if self.read_only:
            raise ReadOnlySessionError(
                f"Session {self.session_id} was written by a newer hermes_nb "
                f"(schema {self.schema_version}); it is read-only here."
            )
        if touch_updated_at:
            self.updated_at = time.time()
        data = self.to_dict()
        payload = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        path = self.path
        with _saving(self.session_id):
            self._check_and_backup(path, diskstate.current(path, _corrupt_moved))
            # A full save fsyncs the folder once, when it writes the index beside it.
            st = atomic_write_bytes(path, payload, sync_dir=skip_index and CHECKPOINT_FSYNC_DIR)
            diskstate.remember(path, st, data)
        if not skip_index:
            _index.upsert_row(SESSION_INDEX_FILE, SESSION_DIR, self.index_row())

    def _check_and_backup(self, path: Path, disk: diskstate.DiskState | None) -> None:
        if disk is None:
            return
        if disk.history_rev > self.history_rev:
            raise UnsafeSaveError(
                f"Session {self.session_id} was undone or retried after this copy was "
                "loaded; saving it would bring removed messages back. Reload it."
            )
        count = len(self.messages)
        if count == 0 and disk.message_count > 0 and (self.pending or disk.pending):
            raise UnsafeSaveError(
                f"Refusing to replace the {disk.message_count} messages of session "
                f"{self.session_id} with none while a run is pending."
            )
        if count < disk.message_count:
            diskstate.backup(path)

    def index_row(self) -> IndexRow:
        return IndexRow(
            id=self.session_id, title=self.title, notebook=self.notebook, model=self.model,
            created_at=self.created_at, updated_at=self.updated_at,
            message_count=len(self.messages), pending=self.pending,
            stopped=_index.open_turn_stop(self.messages),
        )  # fmt: skip

    @classmethod
    def load(cls, session_id: str) -> Session | None:
        """The session on disk, or ``None``. Never touches ``SESSIONS``.

        A file that does not parse is moved aside and the ``.bak`` is used when there is
        one (with a notice); with no backup, ``CorruptSessionError`` names the file.
        """
        validate_session_id(session_id)
        path = SESSION_DIR / f"{session_id}.json"
        try:
            st = os.stat(path)
            session, data = _read_session(path, session_id)
        except FileNotFoundError:
            return None
        except CorruptSessionError as exc:
            return _recover(path, session_id, str(exc))
        diskstate.remember(path, st, data)
        return session


def _read_session(path: Path, session_id: str) -> tuple[Session, dict[str, Any]]:
    data = diskstate.parse_file(path)
    try:
        session = Session.from_dict(data)
    except (TypeError, ValueError) as exc:
        raise CorruptSessionError(f"Session file {path} has a wrong shape ({exc}).") from None
    if session.session_id != session_id:
        raise CorruptSessionError(f"Session file {path} holds session {session.session_id!r}.")
    if session.schema_version > SCHEMA_VERSION:
        session.read_only = True
        _notice(
            f"Session {session_id} was written by a newer hermes_nb (schema "
            f"{session.schema_version}); it is shown read-only and will not be saved."
        )
    return session, data


def _recover(path: Path, session_id: str, reason: str) -> Session | None:
    """Move a corrupt file aside and fall back to its ``.bak`` (under the file lock)."""
    with _saving(session_id):
        try:  # another kernel may have rewritten it meanwhile
            st = os.stat(path)
            session, data = _read_session(path, session_id)
            diskstate.remember(path, st, data)
            return session
        except FileNotFoundError:
            return None
        except CorruptSessionError:
            pass
        return _restore_backup(path, session_id, reason)


def _restore_backup(path: Path, session_id: str, reason: str) -> Session:
    moved = diskstate.move_aside(path, "corrupt")
    bak = path.with_name(path.name + ".bak")
    try:
        session, data = _read_session(bak, session_id)
    except (FileNotFoundError, CorruptSessionError):
        _notice(f"{reason} It was moved to {moved.name}; no backup to restore.")
        raise CorruptSessionError(
            f"{reason} It was moved to {moved.name} and there is no usable backup."
        ) from None
    st = atomic_write_bytes(path, bak.read_bytes())
    diskstate.remember(path, st, data)
    _notice(f"{reason} It was moved to {moved.name}; restored the previous version from {bak.name}.")
    return session


_FIELDS = tuple(f.name for f in fields(Session) if f.name not in ("extra", "read_only"))
_FIELD_SET = frozenset(_FIELDS)


# --------------------------------------------------------------------------- module API


def get_session(session_id: str) -> Session:
    """The canonical session object (loaded into ``SESSIONS`` on first use)."""
    validate_session_id(session_id)
    with LOCK:
        session = SESSIONS.get(session_id)
        if session is None:
            session = Session.load(session_id)
            if session is None:
                raise SessionNotFoundError(f"No session {session_id!r} in {SESSION_DIR}.")
            SESSIONS[session_id] = session
        return session


def new_session(
    title: str | None = None, notebook: str | None = None, model: str | None = None
) -> Session:
    """Create, save and cache a new session."""
    session = Session(title=title or "New session", notebook=notebook, model=model)
    ensure_session_dir()
    session.save()
    with LOCK:
        SESSIONS[session.session_id] = session
    return session


def list_sessions(notebook: str | None = None, include_all: bool = False) -> list[IndexRow]:
    """Index rows, newest first: all of them, or one notebook's when ``notebook`` is given."""
    rows = _index.read_rows(SESSION_INDEX_FILE, SESSION_DIR)
    if include_all or notebook is None:
        return rows
    return [r for r in rows if r.notebook == notebook]


def latest_session_id(notebook: str | None) -> str | None:
    """The most recently updated session of ``notebook`` (of any, when ``None``)."""
    rows = list_sessions(notebook)
    return rows[0].id if rows else None
