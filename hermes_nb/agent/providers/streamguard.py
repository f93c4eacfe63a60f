"""Make a blocking SDK stream stop promptly when the user cancels.

Checking the cancel flag between chunks is not enough: a stalled server leaves the
agent thread blocked inside ``recv`` where no flag is ever looked at. Two phases:

* Opening the request (until the response headers arrive) runs in a helper thread;
  the caller waits on it in short slices and walks away on cancel. If the response
  arrives later, the helper closes it.
* While the body streams, the same helper watches the cancel flag and, when it is
  set, shuts the response's socket down. ``shutdown`` (unlike ``close``) wakes a
  ``recv`` blocked in another thread, so the SDK's read fails at once; the provider
  sees the cancel flag and returns quietly.

The same helper enforces the idle timeout: a request that brings no content (text,
reasoning, a tool call) for ``idle_timeout`` seconds, whether the server is silent,
sends keep-alive comments or empty deltas, is stopped the same way and fails with
``StreamIdleTimeout``. The reader marks content with ``touch()``: one clock read per
chunk.

A reply that has turned into a loop (only blank space, or one line again and again:
small local models do this until their context is full) is stopped the same way
as a cancel, with one line saying why (``RunawayText``).

This needs no other per-chunk work from the reading thread. It works for any SDK object exposing an httpx(-like) ``response`` or
``http_response`` with the ``network_stream`` extension (httpx and httpx2 both give
it); without it, the reader still stops at the next chunk.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from hermes_nb.agent.providers.base import ReasoningDelta, StreamNotice, TextDelta
from hermes_nb.errors import ProviderUnavailableError

__all__ = ["RunawayText", "StreamGuard", "StreamIdleTimeout", "guarded_stream"]

log = logging.getLogger("hermes_nb.providers")

T = TypeVar("T")


class StreamIdleTimeout(ProviderUnavailableError):
    """A request brought no content for its idle timeout (never retried: a stalled
    server would stall again)."""


class StreamGuard(Generic[T]):
    """One request's cancel and idle watcher. Use as a context manager around open + read."""

    def __init__(self, cancel: threading.Event, poll: float = 0.05, idle_timeout: float | None = None) -> None:
        self._cancel = cancel
        self._poll = poll
        self._idle_timeout = idle_timeout if idle_timeout and idle_timeout > 0 else None
        self._last = time.monotonic()
        #: set when the idle timeout stopped the request
        self.timed_out = False
        self._ready = threading.Event()
        self._finished = threading.Event()
        self._lock = threading.Lock()
        self._abandoned = False
        self._result: T | None = None
        self._error: BaseException | None = None

    def open(self, open_fn: Callable[[], T]) -> T | None:
        """Return ``open_fn()`` (or raise its error); None if cancel came first."""
        thread = threading.Thread(target=self._run, args=(open_fn,), name="hermes-nb-stream", daemon=True)
        thread.start()
        while not self._ready.wait(self._poll):
            idle = self._idle()
            if self._cancel.is_set() or idle:
                with self._lock:
                    if not self._ready.is_set():
                        self._abandoned = True
                        self.timed_out = idle
                        return None
        if self._error is not None:
            raise self._error
        return self._result

    def touch(self) -> None:
        """Content arrived: the idle clock starts again."""
        self._last = time.monotonic()

    def _idle(self) -> bool:
        return self._idle_timeout is not None and time.monotonic() - self._last > self._idle_timeout

    def close(self) -> None:
        """The caller is done with the stream: let the helper thread end."""
        self._finished.set()

    def __enter__(self) -> StreamGuard[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, open_fn: Callable[[], T]) -> None:
        try:
            result = open_fn()
        except BaseException as err:  # handed to the caller's thread
            self._error = err
            self._ready.set()
            return
        with self._lock:
            self._result = result
            self._ready.set()
            abandoned = self._abandoned
        if abandoned:
            _close_quietly(result)
            return
        sock = _socket_of(result)
        while not self._finished.is_set():
            if self._cancel.wait(self._poll) or self._idle():
                if not self._finished.is_set():
                    self.timed_out = not self._cancel.is_set()
                    _shutdown(sock)
                return


#: characters of nothing but blank space after which a reply is stopped
BLANK_LIMIT = 2000
#: times one line may follow itself (blank lines between do not count) before a stop
REPEAT_LIMIT = 50
#: a longer line is never counted as a repeat (and never kept whole)
_LONGEST_LINE = 2000


class RunawayText:
    """Notices a reply that has become one long run of blank space or of one line
    repeated. ``feed`` is called per delta and returns the line for the user once."""

    def __init__(self, blank_limit: int = BLANK_LIMIT, repeat_limit: int = REPEAT_LIMIT) -> None:
        self.blank_limit = blank_limit
        self.repeat_limit = repeat_limit
        self._blank = 0
        self._partial = ""
        self._last = ""
        self._repeats = 0

    def feed(self, text: str) -> str | None:
        """The reason to stop the reply after ``text``, or None."""
        stripped = text.rstrip()
        if not stripped:
            self._blank += len(text)
        else:
            self._blank = len(text) - len(stripped)
        if self._blank >= self.blank_limit:
            return (
                f"The reply was stopped: the model wrote nothing but blank space for "
                f"{self._blank:,} characters."
            )
        if "\n" not in text:
            if len(self._partial) <= _LONGEST_LINE:
                self._partial += text
            return None
        *complete, self._partial = (self._partial + text).split("\n")
        for line in complete:
            line = line.strip()
            if not line:
                continue
            if line == self._last and len(line) <= _LONGEST_LINE:
                self._repeats += 1
                if self._repeats >= self.repeat_limit:
                    shown = line if len(line) <= 60 else line[:57] + "..."
                    return (
                        f"The reply was stopped: the model wrote the same line {self._repeats} "
                        f"times in a row ({shown!r})."
                    )
            else:
                self._last, self._repeats = line, 1
        if len(self._partial) > _LONGEST_LINE:
            self._partial = self._partial[:_LONGEST_LINE + 1]
        return None


def _socket_of(stream: Any) -> socket.socket | None:
    """The socket under an SDK stream's (or raw response's) httpx response, if exposed."""
    try:
        response = getattr(stream, "http_response", None) or getattr(stream, "response", stream)
        network = response.extensions.get("network_stream")
        sock = network.get_extra_info("socket") if network is not None else None
    except Exception:  # an unusual transport: fall back to per-chunk checks
        return None
    return sock if isinstance(sock, socket.socket) else None


def _shutdown(sock: socket.socket | None) -> None:
    """Wake the reader: the base-class ``shutdown`` also works under TLS sockets."""
    if sock is None:
        log.debug("cancel: no socket to shut down; stopping at the next chunk")
        return
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass


def _close_quietly(stream: Any) -> None:
    try:
        stream.close()
    except Exception:
        log.debug("closing an abandoned stream failed", exc_info=True)


def guarded_stream(
    cancel: threading.Event,
    open_fn: Callable[[Callable[[], None]], Any],
    read_fn: Callable[[Any, Callable[[], None]], Iterator[Any]],
    translate: Callable[[Exception], Exception],
    *,
    idle_timeout: float | None = None,
    label: str = "The model's server",
) -> Iterator[Any]:
    """One request of any provider: open it where a cancel can abandon it, read it,
    always close it, and turn its failure into our error (none after a cancel).

    ``open_fn(touch)`` calls ``touch()`` just before it sends the request (building
    a client the first time takes a while); ``read_fn(stream, touch)`` calls it for
    each piece of content. A request without any for ``idle_timeout`` seconds raises
    StreamIdleTimeout.
    """
    guard: StreamGuard[Any] = StreamGuard(cancel, idle_timeout=idle_timeout)
    with guard:
        try:
            # the first call imports the SDK and builds its TLS context (a second or
            # more): in the guarded thread too, so a cancel is never kept waiting
            stream = guard.open(lambda: open_fn(guard.touch))
            if stream is None:
                if guard.timed_out and not cancel.is_set():
                    raise _idle_error(label, idle_timeout)
                return
            try:
                yield from _watched(read_fn(stream, guard.touch))
            finally:
                stream.close()
            if guard.timed_out and not cancel.is_set():  # the reader saw a clean end
                raise _idle_error(label, idle_timeout)
        except StreamIdleTimeout:
            raise
        except Exception as err:
            if cancel.is_set():
                return
            if guard.timed_out:
                raise _idle_error(label, idle_timeout) from err
            raise translate(err) from err


def _watched(chunks: Iterator[Any]) -> Iterator[Any]:
    """The reply's chunks, ended early (with a ``StreamNotice``) once its text or its
    reasoning runs away; leaving here closes the response, so the server stops too."""
    text, reasoning = RunawayText(), RunawayText()
    for chunk in chunks:
        yield chunk
        kind = type(chunk)
        if kind is TextDelta or kind is ReasoningDelta:
            why = (text if kind is TextDelta else reasoning).feed(chunk.text)
            if why is not None:
                log.info("runaway reply stopped: %s", why)
                yield StreamNotice(why)
                return


def _idle_error(label: str, seconds: float | None) -> StreamIdleTimeout:
    return StreamIdleTimeout(
        f"{label} sent no reply content for {seconds or 0:g} s (only silence, keep-alives or "
        "empty updates); the request was stopped. For a model that thinks longer, raise "
        "%config AgentMagics.stream_idle_timeout."
    )
