"""The event loop the MCP clients live on: one background thread per kernel.

A cell cannot ``asyncio.run()`` (the kernel's loop is running), and the SDK's
connections must be entered and left in the same task on the same loop, across
cells. So hermes_nb owns one loop in a daemon thread for the life of the process
and hands coroutines to it. The thread is never stopped and restarted: on Linux a
stdio server's launcher watches the thread that started it (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["LoopThread", "wait"]

T = TypeVar("T")


class LoopThread:
    """An asyncio loop running forever in a daemon thread, started on first use."""

    def __init__(self, name: str = "hermes_nb-mcp") -> None:
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                ready = threading.Event()
                loop = asyncio.new_event_loop()

                def run() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                threading.Thread(target=run, name=self._name, daemon=True).start()
                ready.wait(10)
                self._loop = loop
            return self._loop

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule ``coro`` on the loop; cancelling the future cancels its task."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def call_soon(self, fn: Any, *args: Any) -> None:
        self.loop.call_soon_threadsafe(fn, *args)


def wait(
    future: concurrent.futures.Future[T],
    timeout: float | None,
    cancel: threading.Event | None = None,
    alive_at: Callable[[], float] | None = None,
) -> T:
    """The future's result, waiting in short slices so Ctrl-C and ``cancel`` are noticed.

    Raises ``TimeoutError`` after ``timeout`` seconds and ``concurrent.futures.CancelledError``
    when ``cancel`` is set; both cancel the future (and so the coroutine's task).
    ``alive_at`` gives the last time (``time.monotonic()``) the other side showed it is
    working (a progress notification): the timeout then counts from there.
    """
    started = time.monotonic()
    try:
        while True:
            try:
                return future.result(timeout=0.05)
            except concurrent.futures.TimeoutError:
                if cancel is not None and cancel.is_set():
                    raise concurrent.futures.CancelledError from None
                if timeout is not None:
                    since = max(started, alive_at()) if alive_at is not None else started
                    if time.monotonic() - since >= timeout:
                        raise TimeoutError from None
    except BaseException:
        future.cancel()
        raise

