"""A run as plain text, for terminal IPython and plain Python.

Tokens are written as they arrive (batched: ``handle`` queues, ``flush`` writes), tool
calls get one line when they start and one when they end, errors their own line, and
the turn ends with a status line. ``sys.stdout`` is looked up at every write so output
capture (pytest, IPython's ``capture_output``) sees it.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence
from typing import Any, TextIO

from hermes_nb.agent.events import (
    ErrorEvent,
    Event,
    Notice,
    Reasoning,
    Retry,
    Token,
    ToolCompleted,
    ToolStarted,
)
from hermes_nb.safety.safe_output import printable, safe_bundles
from hermes_nb.ui.fragments import (
    REASONING_ICON,
    STATUS_ICONS,
    args_summary,
    fmt_duration,
    status_text,
)
from hermes_nb.ui.state import CANCELLED, CANCELLING, NoticeBlock, ToolCard, TurnDisplay
from hermes_nb.ui.transcript import EMPTY_ANSWER

__all__ = ["TextRenderer"]


#: result lines a finished tool call shows in a terminal
RESULT_LINES = 8


def _result_lines(text: str, limit: int = 100) -> list[str]:
    """The start of a tool's result, indented under its line: the value or the error,
    not only the ``[stdout]``-style label that opens it."""
    lines = [ln if len(ln) <= limit else ln[: limit - 1] + "…" for ln in text.rstrip().splitlines()]
    lines = [ln for ln in lines if ln.strip()] if len(lines) > RESULT_LINES else lines
    shown = lines[:RESULT_LINES]
    if len(lines) > RESULT_LINES:
        shown.append(f"… ({len(lines) - RESULT_LINES} more lines)")
    return ["    " + ln for ln in shown]


class TextRenderer:
    """Prints a turn as it happens; same interface as the widget renderer."""

    def __init__(self, model_name: str | None = None, *, stream: TextIO | None = None) -> None:
        self.state = TurnDisplay(model_name)
        self._stream = stream
        #: text to write and tool outputs to display, in the order they came
        self._pending: list[str | tuple[dict[str, Any], ...]] = []
        self._lock = threading.Lock()
        self._at_line_start = True
        self._in_reasoning = False
        self._finished = False

    def _out(self) -> TextIO:
        return self._stream if self._stream is not None else sys.stdout

    # -- queueing (under the lock) ---------------------------------------------------

    def _write(self, text: str) -> None:
        if text:
            self._pending.append(text)
            self._at_line_start = text.endswith("\n")

    def _line(self, text: str) -> None:
        """``text`` on a line of its own, whatever was written before."""
        if not self._at_line_start:
            self._write("\n")
        self._write(text + "\n")

    def handle(self, event: Event) -> None:
        with self._lock:
            self.state.apply(event)
            if isinstance(event, (Token, Reasoning)):
                reasoning = isinstance(event, Reasoning)
                if reasoning != self._in_reasoning:
                    if not self._at_line_start:
                        self._write("\n")
                    self._write(f"{REASONING_ICON} " if reasoning else "")
                    self._in_reasoning = reasoning
                self._write(event.text)
                return
            self._in_reasoning = False
            if isinstance(event, ToolStarted):
                self._line(f"⚙ {event.name}({args_summary(event.arguments)}) …")
            elif isinstance(event, ToolCompleted):
                self._line(self._completed_line(self.state.cards[event.call_id]))
                if event.outputs:
                    self._pending.append(tuple(event.outputs))
            elif isinstance(event, Retry):
                self._line(
                    f"↻ Retrying (attempt {event.attempt}) after {event.delay:.1f}s: {event.reason}"
                )
            elif isinstance(event, Notice):
                self._line(f"Note: {event.text}")
            elif isinstance(event, ErrorEvent):
                self._line(f"Error ({event.error_type}): {event.message}")

    @staticmethod
    def _completed_line(card: ToolCard) -> str:
        line = f"  {STATUS_ICONS[card.status]} {card.name} {card.status}"
        if card.duration is not None:
            line += f" in {fmt_duration(card.duration)}"
        result = (card.result or "").strip()
        if result and "\n" not in result and not result.startswith("["):
            return f"{line}: {_result_lines(result)[0].strip()}"
        return "\n".join([line, *_result_lines(result)])

    # -- Renderer protocol ------------------------------------------------------------

    def start(self) -> None:
        with self._lock:
            self.state.restart_clock()

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
        text: list[str] = []
        for item in [*pending, ()]:
            if isinstance(item, str):
                text.append(item)
                continue
            if text:
                out = self._out()
                out.write(printable("".join(text)))
                out.flush()
                text.clear()
            _display_outputs(item)

    def show_tool_outputs(self, call_id: str, outputs: Sequence[dict[str, Any]]) -> None:
        """Display rich outputs below the tool's line (cell thread only)."""
        with self._lock:
            self.state.add_outputs(call_id, outputs)
        self.flush()
        _display_outputs(outputs)

    def finish(self, stop_reason: str | None = None) -> None:
        if self._finished:
            return
        self._finished = True
        with self._lock:
            cancelling = any(isinstance(b, NoticeBlock) and b.text == CANCELLING for b in self.state.blocks)
            self.state.finish(stop_reason or "complete")
            if cancelling and self.state.stop_reason == "cancelled":  # "Cancelling…" was printed
                self._line(f"Note: {CANCELLED}")
            if self.state.is_empty:
                self._line(EMPTY_ANSWER)
            self._line("[" + status_text(self.state.status(), timing=True) + "]")
        self.flush()


def _display_outputs(outputs: Sequence[dict[str, Any]]) -> None:
    """A tool's figures and tables, shown as the cell's own outputs (cell thread only)."""
    from IPython.display import display

    for output in safe_bundles(list(outputs)):  # only images we show, and text
        display(dict(output["data"]), raw=True)
