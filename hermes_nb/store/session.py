"""One conversation as data: the ``Session`` dataclass and what its file holds.

A session knows which store it lives in (``StoreLike``, given by the store that made
or read it) and asks that store to save or read it; this module does no disk work
itself, so everything that works on files can import it without a cycle. A session
made directly (``Session(...)``) lives in the process's current store
(``current_store``), the one the kernel points at the notebook's folder.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, Protocol

from hermes_nb.errors import InvalidSessionIdError
from hermes_nb.store import coerce, journal
from hermes_nb.store.index import IndexRow, open_turn_stop
from hermes_nb.store.notices import notice
from hermes_nb.store.versions import Base

__all__ = [
    "FIELD_NAMES",
    "SCHEMA_VERSION",
    "Session",
    "StoreLike",
    "current_store",
    "new_session_id",
    "use_store",
    "validate_session_id",
]

SCHEMA_VERSION = 1

_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")


def validate_session_id(session_id: object) -> str:
    """Return the id if it is ``[A-Za-z0-9_-]{1,64}``; anything else could escape the folder.

    A leading ``_`` is reserved for the store's own files (``_index.json``).
    """
    if not isinstance(session_id, str) or not _ID_RE.fullmatch(session_id):
        raise InvalidSessionIdError(
            f"Invalid session id {session_id!r}: use 1-64 letters, digits, '_' or '-'."
        )
    if session_id.startswith("_"):
        raise InvalidSessionIdError(
            f"Invalid session id {session_id!r}: names starting with '_' are reserved."
        )
    return session_id


def new_session_id() -> str:
    """A sortable, unguessable id: ``20250101_120000_1a2b3c4d``."""
    return time.strftime("%Y%m%d_%H%M%S") + "_" + secrets.token_hex(4)


class StoreLike(Protocol):
    """What a session asks of the store it lives in (``session_store.SessionStore``)."""

    def path_of(self, session_id: str) -> Path: ...

    def save(self, session: Session, skip_index: bool = False, touch_updated_at: bool = True) -> None: ...

    def save_changes(
        self,
        session: Session,
        skip_index: bool = False,
        touch_updated_at: bool = True,
        fold_at: float | None = None,
        sync: bool = True,
    ) -> None: ...

    def save_index_row(self, session: Session, sync_dir: bool = True) -> None: ...

    def load(self, session_id: str) -> Session | None: ...

    def channel(self, session_id: str) -> Any: ...


_CURRENT: list[StoreLike] = []


def use_store(store: StoreLike) -> StoreLike | None:
    """Make ``store`` the process's current store; returns the one it replaces."""
    previous = _CURRENT[0] if _CURRENT else None
    _CURRENT[:] = [store]
    return previous


def current_store() -> StoreLike:
    """The store of sessions made without one: the kernel's (the notebook's folder)."""
    if not _CURRENT:
        raise RuntimeError("No session store yet: import hermes_nb.store.sessions first.")
    return _CURRENT[0]


@dataclass
class Session:
    """One conversation. A store's cache holds the canonical object of each loaded session."""

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
    #: The file version this object last read or wrote (``None``: it never did).
    _base: Base | None = field(default=None, init=False, repr=False, compare=False)
    #: The store this session lives in (``None``: the current store).
    _store: StoreLike | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        validate_session_id(self.session_id)

    @property
    def store(self) -> StoreLike:
        """The store that saves and reads this session."""
        return self._store if self._store is not None else current_store()

    @property
    def path(self) -> Path:
        return self.store.path_of(self.session_id)

    @property
    def pending(self) -> bool:
        """A run is active or its user message still waits to become history."""
        return bool(self.active_stream_id or self.pending_user_message)

    # ---------------------------------------------------------------- (de)serialise

    def to_dict(self) -> dict[str, Any]:
        """The JSON object written to disk; unknown keys from ``extra`` sit at top level."""
        data: dict[str, Any] = dict(self.extra)
        for f in FIELD_NAMES:
            data[f] = getattr(self, f)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Session:
        """Build from a file's JSON. Fields of a wrong type are set aside with a notice
        (``coerce``); ``ValueError``/``TypeError`` only for a missing or invalid id."""
        cleaned, notes = coerce.clean_session_dict(data, _DEFAULTS)
        kwargs: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in cleaned.items():
            if key in _FIELD_SET:
                kwargs[key] = value
            elif key not in _NOT_SAVED and key != journal.TOKEN_KEY:
                extra[key] = value
        kwargs.setdefault("schema_version", SCHEMA_VERSION)
        session = cls(extra=extra, **kwargs)
        if notes:
            shown = ", ".join(notes[:10]) + (f" and {len(notes) - 10} more" if len(notes) > 10 else "")
            notice(
                f"Session {session.session_id}: {shown} had the wrong type and "
                f"{'was' if len(notes) == 1 else 'were'} set aside under '{coerce.INVALID_KEY}'."
            )
        return session

    def index_row(self) -> IndexRow:
        return IndexRow(
            id=self.session_id, title=self.title, notebook=self.notebook, model=self.model,
            created_at=self.created_at, updated_at=self.updated_at,
            message_count=len(self.messages), pending=self.pending,
            stopped=open_turn_stop(self.messages),
        )  # fmt: skip

    # ---------------------------------------------------------------- through the store

    def save(self, skip_index: bool = False, touch_updated_at: bool = True) -> None:
        """Write the session atomically, then upsert its index row unless ``skip_index``
        (``saving.save``: merged with another writer's version, never overwriting it)."""
        self.store.save(self, skip_index, touch_updated_at)

    def save_changes(
        self,
        skip_index: bool = False,
        touch_updated_at: bool = True,
        fold_at: float | None = None,
        sync: bool = True,
    ) -> None:
        """Save what changed since this object last read or wrote its file, as one
        record appended to the journal beside it (``changes``); a full ``save`` when a
        record cannot say it safely or, with ``fold_at``, when the journal has grown
        past ``fold_at`` times the session file. ``sync=False`` leaves an appended
        record's flush to ``flush_journal``.
        """
        self.store.save_changes(self, skip_index, touch_updated_at, fold_at, sync)

    def flush_journal(self) -> None:
        """Flush to disk what ``save_changes(sync=False)`` appended."""
        journal.flush(journal.beside(self.path))

    def save_index_row(self, sync_dir: bool = True) -> None:
        """Upsert only this session's index row (the file is not written)."""
        self.store.save_index_row(self, sync_dir)

    @classmethod
    def load(cls, session_id: str) -> Session | None:
        """The session on disk in the current store, or ``None`` (see ``reading.load``)."""
        return current_store().load(session_id)


_NOT_SAVED = ("extra", "read_only", "_base", "_store")
FIELD_NAMES = tuple(f.name for f in fields(Session) if f.name not in _NOT_SAVED)
_FIELD_SET = frozenset(FIELD_NAMES)
_DEFAULTS: dict[str, Any] = {
    f.name: f.default for f in fields(Session) if f.name in _FIELD_SET and f.default is not MISSING
}
_DEFAULTS.update(created_at=0.0, updated_at=0.0, messages=[], pending_attachments=[], pending_messages=[])
