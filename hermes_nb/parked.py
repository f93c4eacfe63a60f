"""Daemon threads parked between jobs, so a cell's request does not wait for a thread start.

Each ``%%agent`` cell runs its agent on a thread of its own, and each request is
opened on a helper thread (see ``streamguard``). Starting a thread costs a busy
kernel a few tenths of a millisecond on the request's path; a parked thread only
wakes. A parked thread is never handed a job while it runs one (concurrent jobs
start more threads), at most ``max_idle`` stay parked, and a forked child, which
has none of its parent's threads, starts its own.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import weakref
from collections.abc import Callable

__all__ = ["ParkedThreads"]

log = logging.getLogger("hermes_nb.parked")


class _Parked:
    """One parked thread's inbox: its next job."""

    def __init__(self) -> None:
        self.jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self.thread: threading.Thread | None = None


class ParkedThreads:
    """Runs jobs on daemon threads that wait for the next job once done."""

    def __init__(self, name: str, max_idle: int = 2) -> None:
        self.name = name
        self.max_idle = max_idle
        self.idle: list[_Parked] = []
        self._lock = threading.Lock()
        _ALL.add(self)

    def submit(self, job: Callable[[], None], name: str | None = None) -> None:
        """Run ``job`` on a parked thread (named ``name`` meanwhile), or on a new one."""
        with self._lock:
            parked = self.idle.pop() if self.idle else None
        if parked is not None:
            if parked.thread is not None:  # always: set before it parked
                parked.thread.name = name or self.name  # named before it wakes
            parked.jobs.put(job)
            return
        parked = _Parked()
        threading.Thread(target=self._serve, args=(parked, job), name=name or self.name, daemon=True).start()

    def _serve(self, parked: _Parked, job: Callable[[], None]) -> None:
        me = threading.current_thread()
        parked.thread = me
        while True:
            try:
                job()
            except BaseException:  # a parked thread outlives any one job
                log.exception("a job on %s failed", me.name)
            with self._lock:
                if len(self.idle) >= self.max_idle:
                    return
                me.name = self.name
                self.idle.append(parked)
            job = parked.jobs.get()

    def _forget(self) -> None:
        self._lock = threading.Lock()
        self.idle.clear()


_ALL: weakref.WeakSet[ParkedThreads] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for pool in list(_ALL):
        pool._forget()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
