"""Draws a run's view from its own thread while the cell thread runs a tool.

The ``python`` tool runs on the kernel's main thread, the thread that otherwise
draws the view; without help the view would stand still for the whole call: elapsed
time, and what the code prints. For the call's duration a ``ViewPump`` thread calls
``tick`` at the view's usual rate. A tick only sends widget value updates (comm
messages, which any thread may send); it never prints or displays, which from a thread
would land in whichever cell ran last.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from types import TracebackType

__all__ = ["ViewPump"]

log = logging.getLogger("hermes_nb.cell")

#: how long stopping waits for a tick in progress (a tick is a few messages)
STOP_WAIT = 2.0


class ViewPump:
    """``with ViewPump(tick, interval):`` ticks every ``interval`` seconds on a thread."""

    def __init__(self, tick: Callable[[], None], interval: float, name: str = "hermes_nb-view-pump") -> None:
        self._tick = tick
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self.ticks = 0

    def __enter__(self) -> ViewPump:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop ticking; once this returns, no tick runs (unless one hangs past STOP_WAIT)."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(STOP_WAIT)

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._tick()
            except Exception:  # a drawing failure must not touch the tool; the cell thread redraws after
                log.debug("the view pump failed; the view waits for the tool to end", exc_info=True)
                return
            self.ticks += 1
