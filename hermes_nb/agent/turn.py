"""The turn in progress, shared between the agent thread and the checkpoint thread.

The agent thread writes (a token, a completed tool call); the checkpoint thread
waits for a change and saves a consistent snapshot, so a crash loses at most what
happened after the last save. A Condition lets the saver react to events instead
of polling.
"""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass, field
from typing import Any

__all__ = ["TurnSnapshot", "TurnState"]


@dataclass(frozen=True)
class TurnSnapshot:
    """A copy of the turn at one ``version``; safe to keep and serialise."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    partial_text: str = ""
    open_calls: list[tuple[str, str, str]] = field(default_factory=list)
    version: int = 0
    finished: bool = False


class TurnState:
    """Thread-safe record of one turn: completed messages, streamed text, open calls.

    ``version`` increments on every change; ``finished`` is set once the run ended.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._messages: list[dict[str, Any]] = []
        self._partial: list[str] = []
        self._open: list[tuple[str, str, str]] = []
        self._version = 0
        self._finished = False

    @property
    def version(self) -> int:
        with self._cond:
            return self._version

    @property
    def partial_text(self) -> str:
        with self._cond:
            return "".join(self._partial)

    @property
    def finished(self) -> bool:
        with self._cond:
            return self._finished

    def _changed(self) -> None:
        self._version += 1
        self._cond.notify_all()

    def add_message(
        self,
        message: dict[str, Any],
        *,
        open_calls: list[tuple[str, str, str]] | None = None,
        close_call: str | None = None,
    ) -> None:
        """A message completed this turn, in one change so a snapshot is never half-updated.

        The streamed text is cleared (it is now part of the message); ``open_calls``
        replaces the unanswered calls (an assistant message asking for tools) and
        ``close_call`` removes the one a tool result answers.
        """
        with self._cond:
            self._messages.append(copy.deepcopy(message))
            self._partial = []
            if open_calls is not None:
                self._open = list(open_calls)
            if close_call is not None:
                self._open = [c for c in self._open if c[0] != close_call]
            self._changed()

    def append_text(self, text: str) -> None:
        with self._cond:
            self._partial.append(text)
            self._changed()

    def set_partial_text(self, text: str) -> None:
        """Replace the streamed text (empty once it became part of a message or a retry dropped it)."""
        with self._cond:
            self._partial = [text] if text else []
            self._changed()

    def set_open_calls(self, calls: list[tuple[str, str, str]]) -> None:
        """Tool calls asked for and not answered yet: (call_id, name, arguments_json)."""
        with self._cond:
            self._open = list(calls)
            self._changed()

    def close_call(self, call_id: str) -> None:
        with self._cond:
            self._open = [c for c in self._open if c[0] != call_id]
            self._changed()

    def finish(self) -> None:
        """The run ended: wake any waiter for good."""
        with self._cond:
            self._finished = True
            self._changed()

    def snapshot(self) -> TurnSnapshot:
        with self._cond:
            text = "".join(self._partial)
            self._partial = [text] if text else []  # keep later snapshots cheap
            return TurnSnapshot(
                messages=copy.deepcopy(self._messages),
                partial_text=text,
                open_calls=list(self._open),
                version=self._version,
                finished=self._finished,
            )

    def wait_for_change(self, version: int, timeout: float | None) -> int:
        """Block until the version differs from ``version`` (or timeout); return the current one."""
        with self._cond:
            self._cond.wait_for(lambda: self._version != version, timeout=timeout)
            return self._version
