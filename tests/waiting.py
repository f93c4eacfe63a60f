"""Waiting for something to happen, the same way in every test.

A fixed ``time.sleep`` is either too short on a loaded machine (the test flakes) or
too long on an idle one (the suite crawls). These helpers poll a condition until a
generous deadline instead, and act the moment it holds.
"""

from __future__ import annotations

import _thread
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

__all__ = ["interrupt_when", "refused_port", "streamed_words", "wait_for", "wait_until"]

T = TypeVar("T")

#: the default deadline: long enough for a machine running several test suites at once
DEADLINE = 30.0


def wait_for(predicate: Callable[[], T], timeout: float = DEADLINE, what: str = "condition", interval: float = 0.05) -> T:
    """The first truthy value of ``predicate()``; AssertionError naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def wait_until(predicate: Callable[[], Any], timeout: float = DEADLINE, interval: float = 0.05) -> bool:
    """True once ``predicate()`` holds, False if it still does not after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


@contextmanager
def interrupt_when(predicate: Callable[[], Any], timeout: float = DEADLINE, what: str = "condition") -> Iterator[threading.Event]:
    """Send the main thread a KeyboardInterrupt (as the stop button does) once ``predicate()``
    holds. The event yielded is set when the interrupt was sent; leaving the block stops
    the watcher, which never interrupts after that. An interrupt that never came fails
    the test with ``what`` named."""
    fired = threading.Event()
    done = threading.Event()
    lock = threading.Lock()

    def watch() -> None:
        deadline = time.monotonic() + timeout
        while not done.is_set() and time.monotonic() < deadline:
            if predicate():
                with lock:
                    if not done.is_set():
                        fired.set()
                        _thread.interrupt_main()
                return
            time.sleep(0.005)

    watcher = threading.Thread(target=watch, name="interrupt-when", daemon=True)
    watcher.start()
    try:
        yield fired
    finally:
        with lock:
            done.set()
        watcher.join(timeout + 5)
    assert fired.is_set(), f"never interrupted: timed out waiting for {what}"


@contextmanager
def refused_port() -> Iterator[int]:
    """A local port where nothing listens for as long as the block runs: bound (so
    nothing else can take it) but not listening, so a connection is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


def streamed_words(count: int) -> Callable[[], bool]:
    """A predicate: a run of this process has streamed at least ``count`` words of text."""
    from hermes_nb import streaming

    def check() -> bool:
        return any(len(run.turn.partial_text.split()) >= count for run in list(streaming.ACTIVE_RUNS.values()))

    return check
