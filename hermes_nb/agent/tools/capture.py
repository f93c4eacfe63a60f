"""Bounded capture of what a tool prints: the head and the tail, and a count of the rest.

A runaway ``while True: print(...)`` in the ``python`` tool, or ``yes`` in ``shell``,
writes gigabytes in seconds. What the model can use of it is the start and the end
(errors are usually at the end), so that is all that is kept; memory stays a few
hundred kilobytes whatever the tool writes, and the stop button is not kept waiting
by gigabytes of text being joined and cut afterwards.

``sys.stdout`` is process-wide, so while the ``python`` tool runs, other threads write
to the capture too: the kernel's shell channel thread logs "No such comm: ..." there
when a closed page's widget sends a message. ``CodeStream`` keeps only the writes of
the code's own thread and of the threads it starts, and hands each one to a *tap*
(``tapping``) so the live view can show it as it is printed.
"""

from __future__ import annotations

import codecs
import contextlib
import contextvars
import io
import logging
import os
import threading
from collections import deque
from collections.abc import Callable, Iterator
from typing import IO, Generic, TypeVar

__all__ = ["HEAD_CHARS", "TAIL_CHARS", "BoundedBytes", "BoundedText", "CodeStream", "Tap", "current_tap", "drain", "tapping"]

log = logging.getLogger("hermes_nb.tools")

#: receives ``(stream name, text)`` for each write the code makes, from the writing thread
Tap = Callable[[str, str], None]

_TAP: contextvars.ContextVar[Tap | None] = contextvars.ContextVar("hermes_nb_output_tap", default=None)

#: threads of hermes_nb's own (checkpoints, the view pump) are never the code's
OWN_THREAD_PREFIX = "hermes_nb-"

#: characters (or bytes) kept from the start and from the end of one stream
HEAD_CHARS = 10_000
TAIL_CHARS = 10_000

S = TypeVar("S", str, bytes)


class _Bounded(Generic[S]):
    """The first ``head`` and the last ``tail`` items written; ``total`` counts all."""

    def __init__(self, empty: S, head: int = HEAD_CHARS, tail: int = TAIL_CHARS) -> None:
        self._empty: S = empty
        self._head_limit = head
        self._tail_limit = tail
        self._head: list[S] = []
        self._head_size = 0
        self._tail: deque[S] = deque()
        self._tail_size = 0
        self.total = 0
        self._lock = threading.Lock()

    def add(self, data: S) -> None:
        with self._lock:
            self.total += len(data)
            room = self._head_limit - self._head_size
            if room > 0:
                taken = data[:room]
                self._head.append(taken)
                self._head_size += len(taken)
                data = data[room:]
            if not data:
                return
            if len(data) >= self._tail_limit:
                self._tail.clear()
                data = data[-self._tail_limit :] if self._tail_limit else self._empty
                self._tail_size = 0
            self._tail.append(data)
            self._tail_size += len(data)
            while self._tail and self._tail_size - len(self._tail[0]) >= self._tail_limit:
                self._tail_size -= len(self._tail.popleft())

    @property
    def dropped(self) -> int:
        """How much was written but is kept neither in the head nor in the tail."""
        with self._lock:
            return max(0, self.total - self._head_size - min(self._tail_size, self._tail_limit))

    def parts(self) -> tuple[S, int, S]:
        """(head, dropped, tail)."""
        with self._lock:
            head = self._empty.join(self._head)
            tail = self._empty.join(self._tail)
            if len(tail) > self._tail_limit:
                tail = tail[len(tail) - self._tail_limit :]
            return head, self.total - len(head) - len(tail), tail


def _note(dropped: int, unit: str) -> str:
    return f"\n[... {dropped:,} {unit} of output dropped here; only the start and the end are kept ...]\n"


class BoundedText(io.TextIOBase):
    """A text stream for ``sys.stdout``/``sys.stderr`` that keeps the head and the tail."""

    def __init__(self, head: int = HEAD_CHARS, tail: int = TAIL_CHARS) -> None:
        super().__init__()
        self._buffer: _Bounded[str] = _Bounded("", head, tail)

    @property
    def encoding(self) -> str:  # type: ignore[override]  # code asks sys.stdout for it
        return "utf-8"

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        self._buffer.add(text)
        return len(text)

    @property
    def total(self) -> int:
        return self._buffer.total

    def getvalue(self) -> str:
        head, dropped, tail = self._buffer.parts()
        return head + _note(dropped, "characters") + tail if dropped else head + tail


class CodeStream(BoundedText):
    """``sys.stdout``/``sys.stderr`` while the code runs: keeps what the code writes.

    Writes from threads that were already running when the capture began (the
    kernel's shell channel, heartbeat and iopub threads, hermes_nb's threads) are not
    the code's: they go on to the stream that was in place before. Writes from the
    code's thread and from threads it starts are kept, and given to ``tap``.
    """

    def __init__(self, name: str, passthrough: IO[str] | None, tap: Tap | None = None) -> None:
        super().__init__()
        self.stream_name = name
        self._passthrough = passthrough
        self._tap = tap
        here = threading.current_thread()
        self._foreign = frozenset(t for t in threading.enumerate() if t is not here)

    def _is_foreign(self) -> bool:
        thread = threading.current_thread()
        return thread in self._foreign or thread.name.startswith(OWN_THREAD_PREFIX)

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        if self._is_foreign():
            if self._passthrough is None:  # no stream before (pythonw): nowhere to go
                return len(text)
            return self._passthrough.write(text)
        super().write(text)
        tap = self._tap
        if tap is not None and text:
            try:
                tap(self.stream_name, text)
            except Exception:  # the live view failing must not fail the user's code
                log.debug("output tap failed; live output stops", exc_info=True)
                self._tap = None
        return len(text)

    def flush(self) -> None:
        if self._passthrough is not None and self._is_foreign():
            with contextlib.suppress(Exception):
                self._passthrough.flush()


@contextlib.contextmanager
def tapping(tap: Tap | None) -> Iterator[None]:
    """Give what code run in this block prints to ``tap`` as well (see ``current_tap``)."""
    token = _TAP.set(tap)
    try:
        yield
    finally:
        _TAP.reset(token)


def current_tap() -> Tap | None:
    """The tap set by ``tapping`` on this thread, if any."""
    return _TAP.get()


class BoundedBytes:
    """The same for a subprocess's pipe; ``text()`` decodes it (bad bytes replaced)."""

    def __init__(self, head: int = HEAD_CHARS, tail: int = TAIL_CHARS) -> None:
        self._buffer: _Bounded[bytes] = _Bounded(b"", head, tail)

    def add(self, data: bytes) -> None:
        self._buffer.add(data)

    @property
    def total(self) -> int:
        return self._buffer.total

    def text(self) -> str:
        head, dropped, tail = self._buffer.parts()
        decode = lambda b: b.decode("utf-8", errors="replace")  # noqa: E731
        if not dropped:
            return decode(head + tail)
        return decode(head) + _note(dropped, "bytes") + decode(tail)


def drain(pipe: IO[bytes], into: BoundedBytes, tap: Tap | None = None, name: str = "stdout") -> threading.Thread:
    """Read ``pipe`` to its end on a daemon thread, keeping what ``into`` keeps; each
    chunk also goes to ``tap`` as text (as ``name``), for the live view."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def read() -> None:
        nonlocal tap
        fd = pipe.fileno()
        try:
            while True:
                chunk = os.read(fd, 65536)
                if not chunk:
                    return
                into.add(chunk)
                if tap is not None:
                    try:
                        tap(name, decoder.decode(chunk))
                    except Exception:  # the live view failing must not lose the output
                        log.debug("output tap failed; live output stops", exc_info=True)
                        tap = None
        except (OSError, ValueError):  # the pipe was closed under us
            return

    thread = threading.Thread(target=read, name="hermes_nb-shell-output", daemon=True)
    thread.start()
    return thread
