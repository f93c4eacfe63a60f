"""One sessions folder: its sessions, their cache, index and locks.

A ``SessionStore`` is everything the code knows about one folder of sessions: the
kernel has one for the notebook's folder (``session.current_store``, repointed by
``point_at`` when the notebook is found), the server extension one per folder it
serves, and a test one for its temp folder. The disk work is in the modules beside
this one (``saving``, ``changes``, ``reading``, ``index``); the store holds what is
per folder: the path, the cache of canonical session objects and its lock, and the
parsed index rows (``listing``).

A store made with ``root=`` is a reader's (the server extension's): read-only (it
never writes a session file or the index and never takes a lock) and confined to
``root`` (``diskstate.Confinement``). Both kinds read a session the same way
(``read_dict``), list the same way (``listing``) and tell a live run the same way
(``run_is_live``).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hermes_nb.errors import (
    CorruptSessionError,
    SessionNotFoundError,
    SessionWriteError,
    UnreadableSessionError,
    UnsafePathError,
)
from hermes_nb.safety.fsio import sweep_temp_files
from hermes_nb.store import changes, diskstate, folders, journal, liveness, publish, reading, saving
from hermes_nb.store import index as _index
from hermes_nb.store.cache import SessionCache
from hermes_nb.store.index import IndexRow
from hermes_nb.store.locks import RunLock, file_lock
from hermes_nb.store.notices import notice
from hermes_nb.store.session import Session, validate_session_id

if TYPE_CHECKING:
    import filelock

__all__ = ["Listing", "SessionStore"]

INDEX_NAME = "_index.json"
#: answers a reader may keep beside one listing (``Listing.derived``)
_DERIVED_MAX = 64


@dataclass
class Listing:
    """The folder's index rows, newest first, as parsed once for a version of the
    index (or, without a usable index, of the folder): kept until that changes."""

    #: index signature, folder signature (only when scanned), this process's writes
    key: tuple[Any, ...]
    rows: list[IndexRow]
    #: read from the session files (no usable index)
    scanned: bool = False
    #: what a reader made of these rows (the server's answer texts), dropped with them
    derived: dict[str, Any] = field(default_factory=dict)

    def keep(self, name: str, value: Any) -> None:
        """Keep ``value`` with these rows (a bounded number of them)."""
        if len(self.derived) >= _DERIVED_MAX:
            self.derived.clear()
        self.derived[name] = value


def _stat_signature(path: Path) -> journal.Signature | None:
    try:
        return journal.of_stat(os.stat(path))
    except OSError:
        return None


class SessionStore:
    """The sessions of one folder (``<notebook dir>/.hermes_nb/sessions``)."""

    #: Whether checkpoint saves (``skip_index=True``) also fsync the folder, so that a
    #: checkpoint survives a power cut, not only a kernel crash. Off, the folder may
    #: show the previous checkpoint after a power cut (the file itself is always
    #: fsynced before the rename); a small checkpoint then costs ~20% less.
    checkpoint_fsync_dir = True

    def __init__(
        self,
        folder: str | os.PathLike[str],
        cache_size: int = 64,
        root: str | os.PathLike[str] | None = None,
    ) -> None:
        self.folder = Path(folder)
        self._index_file: Path | None = None
        #: session id -> the canonical ``Session`` (LRU, never evicts a live run).
        self.sessions: SessionCache = SessionCache(cache_size)
        #: Guards ``sessions`` for get-or-load.
        self.lock = threading.RLock()
        #: A reader's store: every read stays inside ``root``; nothing is written.
        self.confine = diskstate.Confinement(Path(root).resolve()) if root is not None else None
        self._listing: Listing | None = None
        self._listing_lock = threading.Lock()

    @property
    def read_only(self) -> bool:
        return self.confine is not None

    def __repr__(self) -> str:
        root = f", root={str(self.confine.root)!r}" if self.confine is not None else ""
        return f"SessionStore({str(self.folder)!r}{root})"

    def _writable(self) -> None:
        if self.confine is not None:
            raise SessionWriteError(f"{self.folder} is only read here; nothing is written to it.")

    # ---------------------------------------------------------------- paths

    @property
    def index_file(self) -> Path:
        return self._index_file if self._index_file is not None else self.folder / INDEX_NAME

    @index_file.setter
    def index_file(self, path: Path) -> None:
        self._index_file = None if path == self.folder / INDEX_NAME else Path(path)
        self._listing = None

    def path_of(self, session_id: str) -> Path:
        return self.folder / f"{session_id}.json"

    def ensure_dir(self) -> Path:
        """Create the folder (owner-only) if needed and return it; ``SessionWriteError``
        (one line, saying where to point ``session_dir``) when that cannot be done."""
        self._writable()
        folder = self.folder
        if not folder.is_dir():
            folders.make_dir(folder)
        return folder

    def point_at(self, path: str | os.PathLike[str]) -> Path:
        """Move to ``path`` (created 0700) and sweep temp files left by crashes.

        Nothing changes when the folder cannot be created or written
        (``SessionWriteError``). Sessions cached from another folder are dropped, so
        none is served from the old one; a run of this process keeps its object.
        """
        self._writable()
        folder = folders.check_dir(path)
        with self.lock:
            if folder != self.folder:
                for sid in list(self.sessions):
                    if not _runs_here(self.sessions.get(sid)):
                        self.sessions.pop(sid, None)
            self.folder = folder
            self._index_file = None
            self._listing = None
        sweep_temp_files(folder)
        return folder

    # ---------------------------------------------------------------- locks

    def _lock_path(self, session_id: str, suffix: str) -> Path:
        validate_session_id(session_id)
        return self.ensure_dir() / f"{session_id}{suffix}"

    def session_file_lock(self, session_id: str, timeout: float = 30.0) -> filelock.FileLock:
        """Cross-process lock around a read-merge-write of one session file."""
        return file_lock(self._lock_path(session_id, ".json.lock"), timeout)

    def save_lock_path(self, session_id: str) -> Path:
        """The lock file a save holds around its checks and write.

        A separate file from ``session_file_lock`` so that a caller holding that lock
        for a read-merge-write can save without deadlocking on itself. Lock order:
        ``session_file_lock`` first, this one inside.
        """
        return self._lock_path(session_id, ".save.lock")

    def run_lock(self, session_id: str) -> RunLock:
        """The run lock of ``session_id``; take it with ``acquire(timeout=0)``."""
        return RunLock(self._lock_path(session_id, ".run.lock"))

    def channel(self, session_id: str) -> publish.Channel:
        """This session file's writers: the ordered versions and the cross-kernel lock."""
        path = self.path_of(session_id)
        found = publish.known_channel(path)  # its id was checked when it was made
        if found is not None:
            self.ensure_dir()  # the lock file's folder, if someone removed it
            return found
        return publish.channel(path, self.save_lock_path(session_id))

    @contextmanager
    def saving(self, session_id: str) -> Iterator[publish.Channel]:
        """Other kernels out, and this process's writers of the session paused."""
        ch = self.channel(session_id)
        with ch.shared.held(), ch.file.lock:
            yield ch

    # ---------------------------------------------------------------- one session

    def save(self, session: Session, skip_index: bool = False, touch_updated_at: bool = True) -> None:
        """``Session.save``: the whole file, then the index row unless ``skip_index``."""
        sync_dir = skip_index and self.checkpoint_fsync_dir  # a full save syncs with the index
        try:
            ch = self.channel(session.session_id)
        except OSError as exc:
            raise folders.write_error(self.folder, exc) from None
        saving.save(session, ch, skip_index, touch_updated_at, sync_dir)
        if not skip_index:
            session.save_index_row()

    def save_changes(
        self,
        session: Session,
        skip_index: bool = False,
        touch_updated_at: bool = True,
        fold_at: float | None = None,
        sync: bool = True,
    ) -> None:
        """``Session.save_changes``: one journal record, or the whole file."""
        changes.save_changes(self, session, skip_index, touch_updated_at, fold_at, sync)

    def save_index_row(self, session: Session, sync_dir: bool = True) -> None:
        """Upsert only ``session``'s index row (the file is not written)."""
        self._writable()
        try:
            _index.upsert_row(self.index_file, self.folder, session.index_row(), sync_dir=sync_dir)
        except (SessionWriteError, TimeoutError):
            raise
        except OSError as exc:
            raise folders.write_error(self.folder, exc) from None

    def load(self, session_id: str) -> Session | None:
        """The session on disk, or ``None``; never touches the cache (``reading.load``).

        Not for a reader's store: a corrupt file is moved aside here (``read_dict``
        reads without changing anything)."""
        validate_session_id(session_id)
        self._writable()
        session = reading.load(
            self.path_of(session_id), session_id, lambda: self.saving(session_id), self.index_file
        )
        if session is not None:
            session._store = self
        return session

    # ---------------------------------------------------------------- the cache

    def get(self, session_id: str, refresh: bool = False) -> Session:
        """The canonical session object (loaded into the cache on first use).

        ``refresh=True`` first re-reads a cached session whose file another kernel
        changed (``refresh``): do that before acting on what the user sees.
        """
        validate_session_id(session_id)
        if refresh:
            return self.refresh(session_id)
        with self.lock:
            session = self.sessions.get(session_id)
            if session is None:
                session = self.load(session_id)
                if session is None:
                    raise SessionNotFoundError(f"No session {session_id!r} in {self.folder}.")
                self.sessions[session_id] = session
            return session

    def refresh(self, session_id: str) -> Session:
        """The canonical session, re-read in place if its file changed since this
        kernel last read or wrote it (another kernel took a turn, undid one, renamed it).

        Left as it is while a run of this kernel owns it or one of our saves is on its
        way; the save then merges. Call it with the session's agent lock held, or from
        the cell thread when no run of this session is active.
        """
        validate_session_id(session_id)
        with self.lock:
            session = self.sessions.get(session_id)
        if session is None:
            return self.get(session_id)
        if _runs_here(session) or session._base is None:  # never read or written: nothing to compare
            return session
        ch = self.channel(session_id)
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
        fresh = self.load(session_id)
        with self.lock:
            if fresh is None:
                self.sessions.pop(session_id, None)
                raise SessionNotFoundError(f"Session {session_id!r} is no longer in {self.folder}.")
            for f in fields(Session):
                setattr(session, f.name, getattr(fresh, f.name))
            self.sessions[session_id] = session
        return session

    def adopt(self, session: Session) -> Session:
        """Make ``session`` the canonical object of its id in this store."""
        session._store = self
        with self.lock:
            self.sessions[session.session_id] = session
        return session

    def forget(self, session_id: str) -> None:
        """Drop a session whose file is gone from the cache and the index."""
        self._writable()
        with self.lock:
            self.sessions.pop(session_id, None)
        if not self.path_of(session_id).exists():
            reading.drop_index_row(self.index_file, self.folder, session_id)

    def new(self, title: str | None = None, notebook: str | None = None, model: str | None = None) -> Session:
        """Create, save and cache a new session."""
        session = Session(title=title or "New session", notebook=notebook, model=model)
        session._store = self
        self.ensure_dir()
        session.save()
        return self.adopt(session)

    # ---------------------------------------------------------------- the index

    def listing(self) -> Listing:
        """The folder's index rows, parsed again only when the index changed.

        A repeated call costs a ``stat`` of the index (and of the folder, when its
        rows were read from the files). A missing or malformed index is rebuilt from
        the session files by a kernel's store (a write); a reader's store lists the
        files without writing, and keeps that until the folder changes.
        """
        with self._listing_lock:
            cached = self._listing
        if cached is not None and cached.key == self._listing_key(cached.scanned):
            return cached
        gen = _index.generation(self.index_file)
        folder_sig = _stat_signature(self.folder)
        rows, sig = _index.read_signed(self.index_file, self.confine)
        if rows is not None:
            fresh = Listing((sig, None, gen), rows)
        elif self.confine is not None:
            fresh = Listing((sig, folder_sig, gen), _index.scan(self.folder, self.confine), scanned=True)
        else:  # rebuilt, a write: listed as read, and cached once read back
            return Listing((None, None, -1), _index.read_rows(self.index_file, self.folder))
        with self._listing_lock:
            self._listing = fresh
        return fresh

    def _listing_key(self, scanned: bool) -> tuple[Any, ...]:
        gen = _index.generation(self.index_file)
        folder_sig = _stat_signature(self.folder) if scanned else None
        return (_stat_signature(self.index_file), folder_sig, gen)

    def rows(self, notebook: str | None = None, include_all: bool = False) -> list[IndexRow]:
        """Index rows, newest first: all of them, or one notebook's when ``notebook`` is given."""
        rows = self.listing().rows
        for problem in _index.consume_problems():
            notice(problem)
        if include_all or notebook is None:
            return list(rows)
        return [r for r in rows if r.notebook == notebook]

    def latest_id(self, notebook: str | None) -> str | None:
        """The most recently updated session of ``notebook`` (of any, when ``None``)."""
        rows = self.rows(notebook)
        return rows[0].id if rows else None

    def summary(self, session_id: str) -> IndexRow:
        """What switching to a session shows of it (title, message count), without
        reading its messages when this kernel has not loaded it: the index row says it,
        and a 100,000-message session is then read once, by the run that needs it. A
        session this kernel holds is refreshed first (another kernel may have changed
        it); one with no row, or whose file is gone, is read (a missing one raises
        ``SessionNotFoundError``).
        """
        validate_session_id(session_id)
        with self.lock:
            cached = session_id in self.sessions
        if not cached:
            row = next((r for r in self.rows(include_all=True) if r.id == session_id), None)
            if row is not None and self.path_of(session_id).is_file():
                return row
        return self.get(session_id, refresh=True).index_row()


    # ---------------------------------------------------------------- reading and liveness

    def read_dict(self, session_id: str) -> dict[str, Any] | None:
        """The session as its file and journal hold it now, as plain JSON data, or
        ``None`` when there is no readable session (missing, not a regular file, over
        the size limit, not a session's JSON).

        Read with ``diskstate.read_folded`` (within ``root`` for a reader's store:
        ``UnsafePathError`` for a file or journal leading out of it), never cached,
        nothing written or moved. The journal's token is dropped: the data is whole
        (an export of it cannot be extended by the journal beside the file).
        """
        validate_session_id(session_id)
        try:
            data, _, _ = diskstate.read_folded(self.path_of(session_id), self.confine)
        except (OSError, CorruptSessionError, UnreadableSessionError):
            return None
        data.pop(journal.TOKEN_KEY, None)
        return data

    def run_owner(self, session_id: str) -> Mapping[str, Any] | None:
        """The owner the session file records for its run in progress (None: no run,
        or no readable file)."""
        try:
            data = self.read_dict(session_id) or {}
        except UnsafePathError:  # a file leading out of a reader's root: no owner to tell
            return None
        pending = data.get("active_stream_id") or data.get("pending_user_message")
        owner = data.get("active_stream_owner") if pending else None
        return owner if isinstance(owner, Mapping) else None

    def run_is_live(
        self,
        session_id: str,
        owner: Mapping[str, Any] | None = None,
        locks: liveness.LockTable | None = None,
    ) -> bool:
        """Whether a run of ``session_id`` has a live owner now (``liveness``).

        Asked without touching the run lock: whether some process holds
        ``<id>.run.lock`` (in ``locks``, the held-locks table read once per request;
        read here when not given), or where the system has no such table, whether the
        run's ``owner`` process is alive (read from the file when not given).
        """
        validate_session_id(session_id)
        locks = liveness.held_locks() if locks is None else locks
        if locks.held is None and owner is None:
            owner = self.run_owner(session_id)
        return locks.run_is_live(self.folder / f"{session_id}.run.lock", owner)


def _runs_here(session: Any) -> bool:
    """Whether a run of this process owns ``session`` (its object must stay as it is)."""
    if session is None or not session.active_stream_id:
        return False
    owner = session.active_stream_owner or {}
    return bool(owner.get("pid") == os.getpid())
