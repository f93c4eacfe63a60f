"""Deliberate kill points for crash tests.

A kill at a random moment lands wherever the machine's load puts it: on a busy
machine the interesting moments (a half-written temp file, a rename not yet synced)
may never be hit, and a failure cannot be replayed. Instead a child process arms a
kill point and SIGKILLs itself exactly there: at the n-th call of one of the
operating-system steps every save goes through, looked up at call time in ``os``.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from typing import Any

__all__ = ["STEPS", "kill_at", "run_until_killed"]

#: ``write``: half of the n-th ``os.write`` is written, then the kill; ``fsync``: just
#: before the n-th ``os.fsync`` (a file's or a folder's); ``replace``: just before the
#: n-th ``os.replace``; ``replaced``: just after it, before anything is synced
STEPS = ("write", "fsync", "replace", "replaced")


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def kill_at(step: str, nth: int) -> None:
    """Arm a kill point in this process: SIGKILL at the ``nth`` (from now) ``step`` (see STEPS)."""
    if step not in STEPS:
        raise ValueError(f"unknown kill point {step!r}; one of {STEPS}")
    name = "replace" if step == "replaced" else step
    real = getattr(os, name)
    count = 0

    def hooked(*args: Any, **kwargs: Any) -> Any:
        nonlocal count
        count += 1
        if count != nth:
            return real(*args, **kwargs)
        if step == "write":
            fd, data = args[0], memoryview(args[1])
            real(fd, data[: max(1, len(data) // 2)])
            _die()
        if step in ("fsync", "replace"):
            _die()
        result = real(*args, **kwargs)
        _die()
        return result

    setattr(os, name, hooked)


def run_until_killed(ctx: Any, target: Callable[..., None], *args: Any, **kwargs: Any) -> int | None:
    """Run ``target(*args, ready=..., **kwargs)`` in a child process of the
    multiprocessing context ``ctx`` until its armed kill point ends it; its exit code
    (``-SIGKILL`` when the kill landed). ``ready`` is an event the child sets once it
    is about to work."""
    ready = ctx.Event()
    proc = ctx.Process(target=target, args=args, kwargs={**kwargs, "ready": ready})
    proc.start()
    try:
        assert ready.wait(30), "the child never got ready"
        proc.join(60)
    finally:
        if proc.is_alive():
            proc.kill()
            proc.join(10)
    return proc.exitcode
