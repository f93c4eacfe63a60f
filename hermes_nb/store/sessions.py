"""Sessions: the dataclass, its JSON file, the index and the in-memory cache.

A session is ``SESSION_DIR/<session_id>.json``. Module globals are read at call time
so a test (or ``set_session_dir``) can point the store at another folder.

Safety rules enforced by ``Session.save``:

* every write is atomic (``fsio``), through a unique temp file, and the file is
  fsynced; a full save also fsyncs the folder, a checkpoint only if
  ``CHECKPOINT_FSYNC_DIR`` (a crash then still finds this or the previous checkpoint);
* a write that shrinks the message list keeps the previous file as ``<id>.json.bak``;
* replacing a non-empty message list by an empty one while a run is pending is refused;
* a file that another kernel (or another copy) changed since this object last read or
  wrote it is merged, never overwritten (``merge``): every turn of every kernel stays;
* a copy that never read the file cannot write undone messages back: undo and retry
  bump ``history_rev`` and such a save with an older ``history_rev`` is refused;
* a file written by a newer schema is read-only here;
* text never makes a save fail (``fsio.json_bytes``), and a folder that cannot be
  written gives one line (``SessionWriteError``), not a traceback.

Saves of one session by several threads overlap: each stages its own temp file under
a short lock and renames it without the lock; ``publish`` keeps the newest on disk.

Problems the user should hear about (a corrupt file moved aside, a read-only session)
are logged on ``hermes_nb.store`` and queued: ``consume_warnings()`` returns them
once, so the magic can print one line per notice in the cell.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
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
from hermes_nb.safety import fsio
from hermes_nb.safety.fsio import atomic_write_bytes, sweep_temp_files
from hermes_nb.store import changes as _changes
from hermes_nb.store import coerce, diskstate, folders, journal, publish
from hermes_nb.store import index as _index
from hermes_nb.store import locks as _config
from hermes_nb.store import merge as _merge
from hermes_nb.store.cache import SessionCache
from hermes_nb.store.index import IndexRow
from hermes_nb.store.notices import consume_warnings, notice

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
    "forget_session",
    "new_session_id",
    "notice",
    "refresh_session",
    "session_summary",
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


# --------------------------------------------------------------------------- helpers


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


def ensure_session_dir() -> Path:
    """Create ``SESSION_DIR`` (owner-only) if needed and return it.

    ``SessionWriteError`` (one line, saying where to point ``session_dir``) when that
    cannot be done.
    """
    folder = SESSION_DIR
    if not folder.is_dir():
        folders.make_dir(folder)
    return folder


check_session_dir = folders.check_dir
write_error = folders.write_error


def set_session_dir(path: str | os.PathLike[str]) -> Path:
    """Point the store at ``path`` (created 0700) and sweep temp files left by crashes.

    Nothing changes when the folder cannot be created or written (``SessionWriteError``).
    Sessions cached from another folder are dropped, so none is served from the old one.
    """
    global SESSION_DIR, SESSION_INDEX_FILE
    folder = check_session_dir(path)
    with LOCK:
        if folder != SESSION_DIR:
            for sid in list(SESSIONS):
                if not _runs_here(SESSIONS.get(sid)):
                    SESSIONS.pop(sid, None)
        SESSION_DIR = folder
        SESSION_INDEX_FILE = SESSION_DIR / "_index.json"
    sweep_temp_files(SESSION_DIR)
    return SESSION_DIR


def _runs_here(session: Session | None) -> bool:
    """Whether a run of this process owns ``session`` (its object must stay as it is)."""
    if session is None or not session.active_stream_id:
        return False
    owner = session.active_stream_owner or {}
    return owner.get("pid") == os.getpid()


# --------------------------------------------------------------------------- locks


def _channel(session_id: str) -> publish.Channel:
    """This session file's writers: the ordered versions and the cross-kernel lock."""
    path = SESSION_DIR / f"{session_id}.json"
    found = publish.known_channel(path)  # its id was checked when it was made
    if found is not None:
        ensure_session_dir()  # the lock file's folder, if someone removed it
        return found
    return publish.channel(path, _config.save_lock_path(session_id))


@contextmanager
def _saving(session_id: str) -> Iterator[publish.Channel]:
    """Other kernels out, and this process's writers of the session paused."""
    ch = _channel(session_id)
    with ch.shared.held(), ch.file.lock:
        yield ch


def _corrupt_moved(path: Path, moved: Path) -> None:
    notice(f"Session file {path} did not parse; it was moved to {moved.name}.")


# --------------------------------------------------------------------------- Session

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
    #: The file version this object last read or wrote (``None``: it never did).
    _base: _merge.Base | None = field(default=None, init=False, repr=False, compare=False)

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
            elif key not in ("extra", "read_only", "_base", journal.TOKEN_KEY):
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

    # ---------------------------------------------------------------- save / load

    def save(self, skip_index: bool = False, touch_updated_at: bool = True) -> None:
        """Write the session atomically, then upsert its index row unless ``skip_index``.

        Does not take the agent lock (callers hold it). Under this session's file lock
        (other kernels) it checks the file, merges what another writer saved since this
        object last saw it, and stages a temp file; the rename into place happens
        without the in-process lock, so concurrent saves never wait on each other's
        rename (``publish``).
        """
        if self.read_only:
            raise ReadOnlySessionError(
                f"Session {self.session_id} was written by a newer hermes_nb "
                f"(schema {self.schema_version}); it is read-only here."
            )
        path = self.path
        try:
            ch = _channel(self.session_id)
            with ch.shared.held():
                with ch.file.lock:
                    staged, base = self._stage(ch.file, path, touch_updated_at)
                try:
                    # A full save fsyncs the folder once, when it writes the index beside it.
                    on_disk = ch.file.publish(staged, sync_dir=skip_index and CHECKPOINT_FSYNC_DIR)
                except BaseException:
                    if self._base is base:
                        self._base = None  # unknown now: the next save re-checks the file
                    raise
                with ch.file.lock:
                    seen = _changes.settle(ch.file, path, on_disk)
                mine = self._base
                if mine is not None and mine.seq == on_disk.seq:
                    # our newest version (perhaps rewritten after an older one landed over it)
                    self._base = dataclasses.replace(mine, signature=on_disk.meta.signature, journal=seen)
        except (SessionWriteError, TimeoutError):
            raise
        except OSError as exc:
            raise write_error(path.parent, exc) from None
        if not skip_index:
            self.save_index_row()

    def save_changes(
        self,
        skip_index: bool = False,
        touch_updated_at: bool = True,
        fold_at: float | None = None,
        sync: bool = True,
    ) -> None:
        """Save what changed since this object last read or wrote its file, as one
        record appended to the journal beside it (``journal.py``); a full ``save``
        when a record cannot say it safely (history rewritten, the file changed by
        another writer, no usable journal) or, with ``fold_at``, when the journal has
        grown past ``fold_at`` times the session file (the fold keeps the bytes written
        proportional to what was added). Same locks and guarantees as ``save``, except
        that ``sync=False`` leaves an appended record's flush to ``flush_journal``.
        """
        _changes.save_changes(self, skip_index, touch_updated_at, fold_at, sync)

    def flush_journal(self) -> None:
        """Flush to disk what ``save_changes(sync=False)`` appended."""
        journal.flush(journal.beside(self.path))

    def _stage(
        self, file: publish.OrderedFile, path: Path, touch_updated_at: bool
    ) -> tuple[publish.Staged, _merge.Base]:
        """Check and merge against the file, then write the temp file (``file.lock`` held)."""
        if file.busy:  # one of our own versions is on its way: it is the truth
            newest = file.newest
            assert newest is not None
            disk: diskstate.DiskState | None = newest.meta
            if disk is not None and self._base is not None and disk.signature != self._base.signature:
                self._merge_with(json.loads(newest.payload), path, disk)
        else:
            disk = diskstate.current(path, _corrupt_moved)
            if disk is not None and self._base is not None and not _changes.same_version(disk, self._base):
                try:
                    data, _, _ = diskstate.read_folded(path)
                except (FileNotFoundError, CorruptSessionError):
                    data = None  # gone meanwhile: nothing to merge
                if data is not None:
                    self._merge_with(data, path, disk)
                disk = diskstate.known(path)
        self._check_and_backup(path, disk)
        if touch_updated_at:
            self.updated_at = time.time()
        data = self.to_dict()
        data[journal.TOKEN_KEY] = token = secrets.token_hex(8)  # a journal must name this version
        staged = file.stage(fsio.json_bytes(data))
        state = diskstate.state_of(staged.stat, data)
        staged = file.set_meta(staged, state)
        base = _merge.snapshot(self, state.signature, staged.seq, token, journal.JournalInfo(clean=False))
        self._base = base
        return staged, base

    def _merge_with(self, data: dict[str, Any], path: Path, disk: diskstate.DiskState) -> None:
        """Merge what another writer saved (``data``) into this object (see ``merge``)."""
        theirs = Session.from_dict(data)
        if theirs.session_id != self.session_id:
            return
        if theirs.schema_version > SCHEMA_VERSION:
            raise ReadOnlySessionError(
                f"Session {self.session_id} was saved by a newer hermes_nb in another kernel "
                f"(schema {theirs.schema_version}); it is read-only here."
            )
        assert self._base is not None
        if not _merge.mergeable(self, theirs, self._base):
            self._check_and_backup(path, disk)  # the plainer refusals (a wipe) first
        _merge.merge(self, theirs, self._base)
        log.info("merged session %s with the version another writer saved", self.session_id)

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

    def save_index_row(self, sync_dir: bool = True) -> None:
        """Upsert only this session's index row (the file is not written)."""
        try:
            _index.upsert_row(SESSION_INDEX_FILE, SESSION_DIR, self.index_row(), sync_dir=sync_dir)
        except (SessionWriteError, TimeoutError):
            raise
        except OSError as exc:
            raise write_error(SESSION_DIR, exc) from None

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

        What runs appended to the journal beside the file (``journal.py``: finished
        turns, the pending request, the checkpoints of a run in progress or left by a
        dead kernel) is folded in here.

        A file that does not parse is moved aside and the ``.bak`` is used when there is
        one (with a notice); with no backup, ``CorruptSessionError`` names the file (and
        its index row is dropped). Something that is not a readable regular file (a
        FIFO, a device, a folder, a file over the size limit) raises
        ``UnreadableSessionError`` and is left where it is.
        """
        validate_session_id(session_id)
        path = SESSION_DIR / f"{session_id}.json"
        try:
            return _read_session(path, session_id)[0]
        except FileNotFoundError:
            return None
        except CorruptSessionError as exc:
            return _recover(path, session_id, str(exc))


def _read_session(path: Path, session_id: str) -> tuple[Session, dict[str, Any], os.stat_result]:
    """The session in ``path`` (its journal folded in), with ``_base`` and the disk
    state recorded."""
    data, st, info = diskstate.read_folded(path)
    try:
        session = Session.from_dict(data)
    except (TypeError, ValueError) as exc:
        raise CorruptSessionError(f"Session file {path} has a wrong shape ({exc}).") from None
    if session.session_id != session_id:
        raise CorruptSessionError(f"Session file {path} holds session {session.session_id!r}.")
    if session.schema_version > SCHEMA_VERSION:
        session.read_only = True
        notice(
            f"Session {session_id} was written by a newer hermes_nb (schema "
            f"{session.schema_version}); it is shown read-only and will not be saved."
        )
    state = diskstate.remember(path, st, data, info.signature)
    session._base = _merge.snapshot(session, state.signature, 0, state.token, info)
    return session, data, st


def _recover(path: Path, session_id: str, reason: str) -> Session | None:
    """Move a corrupt file aside and fall back to its ``.bak`` (under the file lock)."""
    with _saving(session_id):
        try:  # another kernel may have rewritten it meanwhile
            return _read_session(path, session_id)[0]
        except FileNotFoundError:
            return None
        except CorruptSessionError:
            pass
        try:
            return _restore_backup(path, session_id, reason)
        except CorruptSessionError:
            _drop_index_row(session_id)
            raise


def _drop_index_row(session_id: str) -> None:
    try:
        _index.remove_row(SESSION_INDEX_FILE, SESSION_DIR, session_id)
    except OSError as exc:
        log.warning("could not drop the index row of %s: %s", session_id, exc)


def _restore_backup(path: Path, session_id: str, reason: str) -> Session:
    moved = diskstate.move_aside(path, "corrupt")
    bak = path.with_name(path.name + ".bak")
    try:
        _read_session(bak, session_id)  # a whole session of this id, or no backup at all
        raw = diskstate.read_bounded(bak)[0]
    except (FileNotFoundError, CorruptSessionError, UnreadableSessionError):
        notice(f"{reason} It was moved to {moved.name}; no backup to restore.")
        raise CorruptSessionError(
            f"{reason} It was moved to {moved.name} and there is no usable backup."
        ) from None
    atomic_write_bytes(path, raw)
    session = _read_session(path, session_id)[0]
    notice(f"{reason} It was moved to {moved.name}; restored the previous version from {bak.name}.")
    return session


FIELD_NAMES = tuple(f.name for f in fields(Session) if f.name not in ("extra", "read_only", "_base"))
_FIELD_SET = frozenset(FIELD_NAMES)
_DEFAULTS: dict[str, Any] = {
    f.name: f.default for f in fields(Session) if f.name in _FIELD_SET and f.default is not MISSING
}
_DEFAULTS.update(created_at=0.0, updated_at=0.0, messages=[], pending_attachments=[], pending_messages=[])


# --------------------------------------------------------------------------- module API


def get_session(session_id: str, refresh: bool = False) -> Session:
    """The canonical session object (loaded into ``SESSIONS`` on first use).

    ``refresh=True`` first re-reads a cached session whose file another kernel changed
    (``refresh_session``): do that before acting on what the user sees.
    """
    validate_session_id(session_id)
    if refresh:
        return refresh_session(session_id)
    with LOCK:
        session = SESSIONS.get(session_id)
        if session is None:
            session = Session.load(session_id)
            if session is None:
                raise SessionNotFoundError(f"No session {session_id!r} in {SESSION_DIR}.")
            SESSIONS[session_id] = session
        return session


def refresh_session(session_id: str) -> Session:
    """The canonical session, re-read in place if its file changed since this kernel
    last read or wrote it (another kernel took a turn, undid one, renamed it).

    Left as it is while a run of this kernel owns it or one of our saves is on its
    way; the save then merges. Call it with the session's agent lock held, or from the
    cell thread when no run of this session is active.
    """
    validate_session_id(session_id)
    with LOCK:
        session = SESSIONS.get(session_id)
    if session is None:
        return get_session(session_id)
    if _runs_here(session) or session._base is None:  # never read or written: nothing to compare
        return session
    ch = _channel(session_id)
    with ch.file.lock:
        if ch.file.busy:
            return session
        try:
            st = os.stat(session.path)
        except FileNotFoundError:
            st = None
        jsig = journal.signature(journal.beside(session.path))
    base = session._base
    if (
        st is not None
        and base is not None
        and base.signature == journal.of_stat(st)
        and base.journal.signature == jsig
    ):
        return session
    if st is None and not session.path.parent.is_dir():
        return session  # the whole folder is gone or elsewhere: not this session's news
    fresh = Session.load(session_id)
    with LOCK:
        if fresh is None:
            SESSIONS.pop(session_id, None)
            raise SessionNotFoundError(f"Session {session_id!r} is no longer in {SESSION_DIR}.")
        for f in fields(Session):
            setattr(session, f.name, getattr(fresh, f.name))
        SESSIONS[session_id] = session
    log.info("re-read session %s: its file changed in another kernel", session_id)
    return session


def session_summary(session_id: str) -> IndexRow:
    """What switching to a session shows of it (title, message count), without reading
    its messages when this kernel has not loaded it: the index row says it, and a
    100,000-message session is then read once, by the run that needs it. A session this
    kernel holds is refreshed first (another kernel may have changed it); one with no
    row, or whose file is gone, is read (and a missing one raises
    ``SessionNotFoundError``).
    """
    validate_session_id(session_id)
    with LOCK:
        cached = session_id in SESSIONS
    if not cached:
        row = next((r for r in list_sessions(include_all=True) if r.id == session_id), None)
        if row is not None and (SESSION_DIR / f"{session_id}.json").is_file():
            return row
    return get_session(session_id, refresh=True).index_row()


def forget_session(session_id: str) -> None:
    """Drop a session whose file is gone from the cache and the index."""
    with LOCK:
        SESSIONS.pop(session_id, None)
    if not (SESSION_DIR / f"{session_id}.json").exists():
        _drop_index_row(session_id)


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
    for problem in _index.consume_problems():
        notice(problem)
    if include_all or notebook is None:
        return rows
    return [r for r in rows if r.notebook == notebook]


def latest_session_id(notebook: str | None) -> str | None:
    """The most recently updated session of ``notebook`` (of any, when ``None``)."""
    rows = list_sessions(notebook)
    return rows[0].id if rows else None
