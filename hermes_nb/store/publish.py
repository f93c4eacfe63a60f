"""Publishing successive versions of one file from several threads and kernels.

A writer stages its version (a complete, fsynced temp file) under a short in-process
lock and renames it into place *without* holding that lock: two threads saving the
same file then both reach ``os.replace`` at once, and neither waits for the other's
rename (nor deadlocks when something holds up a rename).

Renames of one process may then land out of order. Each version takes a sequence
number when it is staged; a version that lands after a newer one has landed puts the
newest one back (``_repair``), so the newest snapshot is what stays on disk.

Other kernels are kept out by a file lock that this process holds *once for all its
threads* (``SharedFileLock``) from the first stage to the last rename: another kernel
never reads the file between our stage and our rename, so its read-merge-write always
starts from a version we finished.
"""

from __future__ import annotations

import itertools
import os
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from hermes_nb.safety import fsio
from hermes_nb.store.locks import acquire_os_file_lock

__all__ = ["OrderedFile", "SharedFileLock", "Staged", "channel"]

#: Version numbers, unique in this process (a path's channel may be dropped and made anew).
_SEQ = itertools.count(1)


class SharedFileLock:
    """An OS file lock held by this process while any of its threads is inside.

    The first thread in takes the ``flock`` (waiting for other kernels); later threads
    of this process join without waiting; the last one out lets it go.
    """

    def __init__(self, path: Path, timeout: float = 30.0) -> None:
        self.path = path
        self.timeout = timeout
        self._mutex = threading.Lock()
        self._count = 0
        self._held: Any = None

    @contextmanager
    def held(self) -> Iterator[None]:
        with self._mutex:
            if self._count == 0:
                self._held = acquire_os_file_lock(self.path, self.timeout)
            self._count += 1
        try:
            yield
        finally:
            with self._mutex:
                self._count -= 1
                if self._count == 0:
                    held, self._held = self._held, None
                    held.release()


@dataclass(frozen=True)
class Staged:
    """One staged version: its temp file, stat (= the final file's), bytes and facts."""

    seq: int
    tmp: str
    stat: os.stat_result
    payload: bytes
    meta: Any = None


class OrderedFile:
    """The versions of one file written by this process, newest last."""

    def __init__(self, path: Path) -> None:
        self.path = path
        #: Held to stage a version and for the bookkeeping after a rename.
        self.lock = threading.Lock()
        self._landed = 0
        self._in_flight = 0
        self._newest: Staged | None = None

    @property
    def busy(self) -> bool:
        """Whether a staged version of this process has not finished its rename.

        Then the file on disk may be any of our recent versions: the newest staged
        one (``newest``) is the truth. Read with ``lock`` held.
        """
        return self._in_flight > 0

    @property
    def newest(self) -> Staged | None:
        return self._newest

    def stage(self, payload: bytes, meta: Any = None, *, sync_file: bool = True) -> Staged:
        """Write the next version to its own temp file (``lock`` held by the caller)."""
        tmp, st = fsio.write_temp(self.path, payload, sync_file=sync_file)
        staged = Staged(next(_SEQ), tmp, st, payload, meta)
        self._newest = staged
        self._in_flight += 1
        return staged

    def set_meta(self, staged: Staged, meta: Any) -> Staged:
        """Attach facts to a staged version (``lock`` held)."""
        staged = replace(staged, meta=meta)
        if self._newest is not None and self._newest.seq == staged.seq:
            self._newest = staged
        return staged

    def publish(self, staged: Staged, *, sync_dir: bool = True) -> Staged:
        """Rename ``staged`` into place (no lock held); returns the version now on disk."""
        try:
            fsio.replace_temp(staged.tmp, self.path)
        except BaseException:
            with self.lock:
                self._in_flight -= 1
            raise
        with self.lock:
            self._in_flight -= 1
            if staged.seq >= self._landed:
                self._landed = staged.seq
                on_disk = staged
            else:  # a newer version landed first and ours just replaced it
                on_disk = self._repair()
        if sync_dir:
            fsio.fsync_dir(self.path.parent)
        return on_disk

    def _repair(self) -> Staged:
        newest = self._newest
        assert newest is not None
        tmp, st = fsio.write_temp(self.path, newest.payload)
        fsio.rename_over(tmp, self.path)
        self._landed = newest.seq
        meta = getattr(newest.meta, "with_stat", None)
        repaired = replace(newest, tmp=tmp, stat=st, meta=meta(st) if meta else newest.meta)
        self._newest = repaired
        return repaired


@dataclass(frozen=True)
class Channel:
    """Everything that orders writes to one path."""

    file: OrderedFile
    shared: SharedFileLock


_CHANNELS: weakref.WeakValueDictionary[str, Channel] = weakref.WeakValueDictionary()
_CHANNELS_LOCK = threading.Lock()
#: Channels in use stay alive; others may be collected (weak values), so a kernel that
#: touched thousands of sessions does not keep thousands of objects.
_RECENT: list[Channel] = []


def known_channel(path: Path) -> Channel | None:
    """The channel of ``path`` if this process has one (no lock path needed to ask)."""
    with _CHANNELS_LOCK:
        found = _CHANNELS.get(str(path))
        if found is not None:
            _keep(found)
        return found


def channel(path: Path, lock_path: Path) -> Channel:
    """The channel of ``path`` (one per path in this process)."""
    key = str(path)
    with _CHANNELS_LOCK:
        found = _CHANNELS.get(key)
        if found is None or found.shared.path != lock_path:
            found = Channel(OrderedFile(path), SharedFileLock(lock_path))
            _CHANNELS[key] = found
        _keep(found)
        return found


def _keep(found: Channel) -> None:
    """Keep a channel in use alive (``_CHANNELS_LOCK`` held)."""
    _RECENT.append(found)
    if len(_RECENT) > 256:
        del _RECENT[:128]
