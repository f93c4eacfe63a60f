"""The locks that keep a sessions folder consistent.

Two kinds of locks:

* per-session *agent locks* (in-process, ``threading``-style, non-reentrant): whoever
  reads-modifies-saves a session in this kernel holds it (checkpoint thread, undo, retry);
* *file locks* (``filelock``, OS-level ``flock``): exclude other kernels working in the
  same folder. ``run_lock`` is held by the kernel that owns a running stream; the OS
  drops it when that process dies, which is how a dead owner is told from a live one.

This module stays import-light: it is loaded by the magic on ``%load_ext``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import filelock

__all__ = [
    "SESSION_AGENT_LOCKS",
    "SESSION_AGENT_LOCKS_LOCK",
    "SessionLock",
    "RunLock",
    "acquire_os_file_lock",
    "alias_session_lock",
    "file_lock",
    "os_file_lock",
]

log = logging.getLogger("hermes_nb.store.locks")

#: Strong references to locks currently held, so a held lock is never freed while the
#: weak registry is its only other reference.
_HELD: set[SessionLock] = set()
_HELD_GUARD = threading.Lock()


class SessionLock:
    """A non-reentrant ``threading.Lock`` that can be weakly referenced.

    ``_thread.lock`` supports neither subclassing nor weak references, so this wraps
    one. While held it keeps itself alive (see ``_HELD``); unheld and unreferenced it
    disappears from ``SESSION_AGENT_LOCKS`` on its own.
    """

    __slots__ = ("_lock", "__weakref__")

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        got = self._lock.acquire(blocking, timeout)
        if got:
            with _HELD_GUARD:
                _HELD.add(self)
        return got

    def release(self) -> None:
        with _HELD_GUARD:
            self._lock.release()
            _HELD.discard(self)

    def locked(self) -> bool:
        return self._lock.locked()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __repr__(self) -> str:
        state = "locked" if self.locked() else "unlocked"
        return f"<SessionLock {state} at {id(self):#x}>"


#: session id -> SessionLock; weak values so ids nobody uses any more cost nothing.
SESSION_AGENT_LOCKS: weakref.WeakValueDictionary[str, SessionLock] = weakref.WeakValueDictionary()
#: Guards get-or-create in ``SESSION_AGENT_LOCKS``.
SESSION_AGENT_LOCKS_LOCK = threading.Lock()


def _get_session_agent_lock(session_id: str) -> SessionLock:
    """The agent lock of ``session_id``: the same object for as long as anyone holds it."""
    with SESSION_AGENT_LOCKS_LOCK:
        lock = SESSION_AGENT_LOCKS.get(session_id)
        if lock is None:
            lock = SessionLock()
            SESSION_AGENT_LOCKS[session_id] = lock
        return lock


def alias_session_lock(old_id: str, new_id: str) -> SessionLock:
    """Make ``new_id`` use ``old_id``'s lock (for a session that changes id).

    The old entry is dropped; if ``old_id`` had no lock, ``new_id`` keeps (or gets) its own.
    """
    with SESSION_AGENT_LOCKS_LOCK:
        lock = SESSION_AGENT_LOCKS.pop(old_id, None)
        if lock is None:
            lock = SESSION_AGENT_LOCKS.get(new_id) or SessionLock()
        SESSION_AGENT_LOCKS[new_id] = lock
        return lock


# --------------------------------------------------------------------------- file locks

#: How often a waiting ``filelock`` re-tries (the default 50 ms is slow for saves).
FILE_LOCK_POLL = 0.005


def file_lock(path: Path, timeout: float) -> filelock.FileLock:
    import filelock

    # Not a singleton: every call gets its own descriptor, and flock() on two
    # descriptors excludes even inside one process. Not thread-local: a lock taken on
    # one thread may be released from another.
    return filelock.FileLock(
        str(path), timeout=timeout, mode=0o600, thread_local=False, is_singleton=False
    )


class _HeldFlock:
    """An exclusive ``flock`` on an open descriptor; ``release`` closes it (once)."""

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


def acquire_os_file_lock(path: Path, timeout: float = 30.0) -> Any:
    """Take an exclusive ``flock`` on ``path``; returns an object with ``release()``.

    ``filelock``'s bookkeeping costs ~30x the system calls (about 1 ms in a busy
    kernel), which shows on every checkpoint and before every request. Each call opens
    its own descriptor, and ``flock`` on two descriptors excludes even two threads of
    one process. Compatible with ``filelock`` on the same file (both use ``flock``);
    ``filelock.Timeout`` when the lock is still held after ``timeout`` seconds.
    """
    try:
        import fcntl
    except ImportError:  # Windows
        lock = file_lock(path, timeout)
        lock.acquire()
        return lock
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return _HeldFlock(fd)
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    import filelock

                    raise filelock.Timeout(str(path)) from None
                time.sleep(0.001)
    except BaseException:
        os.close(fd)
        raise


@contextmanager
def os_file_lock(path: Path, timeout: float = 30.0) -> Iterator[None]:
    """``acquire_os_file_lock`` as a context manager, for short critical sections."""
    held = acquire_os_file_lock(path, timeout)
    try:
        yield
    finally:
        held.release()


class RunLock:
    """The lock a kernel holds for the whole of a running stream.

    Taken on the cell thread before every request, released from whichever thread
    ends the run; the OS drops it when the kernel dies, which is how a restore tells
    an interrupted run from a live one. A plain ``flock`` (``acquire_os_file_lock``):
    ``filelock``'s per-call bookkeeping was a tenth of a later cell's time to request.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._held: Any = None

    def acquire(self, timeout: float = 0) -> None:
        """``filelock.Timeout`` when a live process (this one or another) holds it."""
        if self._held is None:
            self._held = acquire_os_file_lock(self.path, timeout)

    def release(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            held.release()
