"""One sessions folder: its sessions, their cache, index and locks.

A ``SessionStore`` is everything the code knows about one folder of sessions: the
kernel has one for the notebook's folder (``session.current_store``, repointed by
``point_at`` when the notebook is found), the server extension one per folder it
serves, and a test one for its temp folder. The disk work is in the modules beside
this one (``saving``, ``changes``, ``reading``, ``index``); the store holds what is
per folder: the path, the cache of canonical session objects and its lock.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hermes_nb.errors import SessionNotFoundError, SessionWriteError
from hermes_nb.safety.fsio import sweep_temp_files
from hermes_nb.store import changes, folders, journal, publish, reading, saving
from hermes_nb.store import index as _index
from hermes_nb.store.cache import SessionCache
from hermes_nb.store.index import IndexRow
from hermes_nb.store.locks import RunLock, file_lock
from hermes_nb.store.notices import notice
from hermes_nb.store.session import Session, validate_session_id

if TYPE_CHECKING:
    import filelock

__all__ = ["SessionStore"]

INDEX_NAME = "_index.json"


class SessionStore:
    """The sessions of one folder (``<notebook dir>/.hermes_nb/sessions``)."""

    #: Whether checkpoint saves (``skip_index=True``) also fsync the folder, so that a
    #: checkpoint survives a power cut, not only a kernel crash. Off, the folder may
    #: show the previous checkpoint after a power cut (the file itself is always
    #: fsynced before the rename); a small checkpoint then costs ~20% less.
    checkpoint_fsync_dir = True

    def __init__(self, folder: str | os.PathLike[str], cache_size: int = 64) -> None:
        self.folder = Path(folder)
        self._index_file: Path | None = None
        #: session id -> the canonical ``Session`` (LRU, never evicts a live run).
        self.sessions: SessionCache = SessionCache(cache_size)
        #: Guards ``sessions`` for get-or-load.
        self.lock = threading.RLock()

    def __repr__(self) -> str:
        return f"SessionStore({str(self.folder)!r})"

    # ---------------------------------------------------------------- paths

    @property
    def index_file(self) -> Path:
        return self._index_file if self._index_file is not None else self.folder / INDEX_NAME

    @index_file.setter
    def index_file(self, path: Path) -> None:
        self._index_file = None if path == self.folder / INDEX_NAME else Path(path)

    def path_of(self, session_id: str) -> Path:
        return self.folder / f"{session_id}.json"

    def ensure_dir(self) -> Path:
        """Create the folder (owner-only) if needed and return it; ``SessionWriteError``
        (one line, saying where to point ``session_dir``) when that cannot be done."""
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
        folder = folders.check_dir(path)
        with self.lock:
            if folder != self.folder:
                for sid in list(self.sessions):
                    if not _runs_here(self.sessions.get(sid)):
                        self.sessions.pop(sid, None)
            self.folder = folder
            self._index_file = None
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
        try:
            _index.upsert_row(self.index_file, self.folder, session.index_row(), sync_dir=sync_dir)
        except (SessionWriteError, TimeoutError):
            raise
        except OSError as exc:
            raise folders.write_error(self.folder, exc) from None

    def load(self, session_id: str) -> Session | None:
        """The session on disk, or ``None``; never touches the cache (``reading.load``)."""
        validate_session_id(session_id)
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

    def rows(self, notebook: str | None = None, include_all: bool = False) -> list[IndexRow]:
        """Index rows, newest first: all of them, or one notebook's when ``notebook`` is given."""
        rows = _index.read_rows(self.index_file, self.folder)
        for problem in _index.consume_problems():
            notice(problem)
        if include_all or notebook is None:
            return rows
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


def _runs_here(session: Any) -> bool:
    """Whether a run of this process owns ``session`` (its object must stay as it is)."""
    if session is None or not session.active_stream_id:
        return False
    owner = session.active_stream_owner or {}
    return bool(owner.get("pid") == os.getpid())
