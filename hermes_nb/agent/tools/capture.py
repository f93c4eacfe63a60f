"""Bounded capture of what a tool prints: the head and the tail, and a count of the rest.

A runaway ``while True: print(...)`` in the ``python`` tool, or ``yes`` in ``shell``,
writes gigabytes in seconds. What the model can use of it is the start and the end
(errors are usually at the end), so that is all that is kept; memory stays a few
hundred kilobytes whatever the tool writes, and the stop button is not kept waiting
by gigabytes of text being joined and cut afterwards.
"""

from __future__ import annotations

import io
import os
import threading
from collections import deque
from typing import IO, Generic, TypeVar

__all__ = ["HEAD_CHARS", "TAIL_CHARS", "BoundedBytes", "BoundedText", "drain"]

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


def drain(pipe: IO[bytes], into: BoundedBytes) -> threading.Thread:
    """Read ``pipe`` to its end on a daemon thread, keeping what ``into`` keeps."""

    def read() -> None:
        fd = pipe.fileno()
        try:
            while True:
                chunk = os.read(fd, 65536)
                if not chunk:
                    return
                into.add(chunk)
        except (OSError, ValueError):  # the pipe was closed under us
            return

    thread = threading.Thread(target=read, name="hermes_nb-shell-output", daemon=True)
    thread.start()
    return thread
