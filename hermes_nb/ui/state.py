"""One turn's display as plain data, built from the run's events.

Renderers (widget, text, static transcript) all draw from this model, so what a turn
*shows* is decided once. ``apply`` runs for every token: it only appends a piece to a
list and bumps a version number; text is joined lazily when a renderer asks for it.
Not thread-safe by itself: a renderer that accepts events from another thread guards
it with its own lock.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from hermes_nb.agent.events import (
    Done,
    ErrorEvent,
    Event,
    Notice,
    Reasoning,
    Retry,
    Token,
    ToolCompleted,
    ToolStarted,
    Usage,
)
from hermes_nb.safety.safe_output import safe_bundles
from hermes_nb.ui.live_output import LiveOutput

__all__ = [
    "CANCELLED",
    "CANCELLING",
    "Block",
    "ErrorBlock",
    "LiveOutput",
    "NoticeBlock",
    "ReasoningBlock",
    "RetryBlock",
    "StatusLine",
    "TextBlock",
    "ToolCard",
    "ToolStatus",
    "TurnDisplay",
    "status_of_result",
]

ToolStatus = Literal["running", "done", "failed", "denied", "rejected", "cancelled", "interrupted"]

#: the note shown while a cancel is on its way, and what it becomes once it is done
CANCELLING = "Cancelling…"
CANCELLED = "Cancelled; the output above was kept."

PREVIEW_CHARS = 800

#: a tokens/s figure needs this much generation time and output to mean anything
MIN_RATE_SECONDS = 0.5
MIN_RATE_TOKENS = 5
PREVIEW_LINES = 20

# Results the engine gives a call that was refused by a policy or by the user.
_DENIED_PREFIXES = (
    "denied", "not run:", "not approved", "the user declined", "the user denied",
)
#: the user refused a change shown to them (an edit's diff)
_REJECTED_PREFIXES = ("the user rejected",)
#: the kernel stopped under the call (a restore's repair), not the stop button
_INTERRUPTED_PREFIXES = ("interrupted:",)
_CANCELLED_PREFIXES = ("cancelled", "interrupted")


def status_of_result(result: str | None, is_error: bool = True) -> ToolStatus:
    """A finished call's status, from its result text (a session file keeps no flag)."""
    head = (result or "").strip().lower()
    if head.startswith(_INTERRUPTED_PREFIXES):
        return "interrupted"
    if head.startswith(_CANCELLED_PREFIXES):
        return "cancelled"
    if not is_error:
        return "done"
    if head.startswith(_REJECTED_PREFIXES):
        return "rejected"
    if head.startswith(_DENIED_PREFIXES):
        return "denied"
    return "failed"


@dataclass(eq=False)
class Block:
    """One visible piece of the turn; ``version`` bumps on every change."""

    kind: ClassVar[str] = "block"
    version: int = field(default=0, init=False)

    def touch(self) -> None:
        self.version += 1


@dataclass(eq=False)
class TextBlock(Block):
    """Assistant Markdown, accumulated as pieces and joined on demand."""

    kind: ClassVar[str] = "text"
    pieces: list[str] = field(default_factory=list)
    discarded: bool = False  # its request was retried; the text is not part of the answer

    def append(self, piece: str) -> None:
        self.pieces.append(piece)
        self.version += 1

    @property
    def text(self) -> str:
        if len(self.pieces) > 1:  # join once, keep the joined string for next time
            self.pieces[:] = ["".join(self.pieces)]
        return self.pieces[0] if self.pieces else ""


@dataclass(eq=False)
class ReasoningBlock(TextBlock):
    """The model's visible reasoning, shown apart from the answer."""

    kind: ClassVar[str] = "reasoning"


@dataclass(eq=False)
class ToolCard(Block):
    """One tool call: what was asked, how it went, what it showed."""

    kind: ClassVar[str] = "tool"
    call_id: str = ""
    name: str = ""
    arguments: dict[str, Any] = field(default_factory=dict)
    status: ToolStatus = "running"
    duration: float | None = None
    result: str | None = None
    outputs: list[dict[str, Any]] = field(default_factory=list)
    live: LiveOutput = field(default_factory=LiveOutput)  # printed so far, while running

    @property
    def preview(self) -> str:
        """The start of the result: enough to judge it, small enough for a saved notebook."""
        text = self.result or ""
        lines = text.splitlines()
        cut = "\n".join(lines[:PREVIEW_LINES])
        if len(cut) > PREVIEW_CHARS:
            cut = cut[:PREVIEW_CHARS]
        if len(cut) < len(text.rstrip("\n")):
            cut = cut.rstrip() + f"\n… ({len(text):,} characters in all)"
        return cut


@dataclass(eq=False)
class NoticeBlock(Block):
    kind: ClassVar[str] = "notice"
    text: str = ""


@dataclass(eq=False)
class ErrorBlock(Block):
    kind: ClassVar[str] = "error"
    message: str = ""
    error_type: str = "HermesError"


@dataclass(eq=False)
class RetryBlock(Block):
    kind: ClassVar[str] = "retry"
    attempt: int = 0
    delay: float = 0.0
    reason: str = ""


@dataclass(frozen=True)
class StatusLine:
    """What the status line shows, as a snapshot."""

    model: str | None
    started_at: float  # epoch seconds
    elapsed: float
    input_tokens: int
    output_tokens: int
    tokens_per_second: float | None
    cost: float | None
    running: bool
    stop_reason: str | None
    cached_tokens: int = 0


class TurnDisplay:
    """Ordered blocks of one turn plus the numbers of its status line."""

    def __init__(
        self,
        model: str | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.model = model
        self.blocks: list[Block] = []
        self.cards: dict[str, ToolCard] = {}
        self.input_tokens = 0
        self.cached_tokens = 0  # of the input tokens, read from the provider's prompt cache
        self.output_tokens = 0
        self.cost: float | None = None
        self.stop_reason: str | None = None
        self.tool_seconds = 0.0
        self.status_version = 0  # bumps when a status number other than time changes
        self._clock = clock
        self._wall_clock = wall_clock
        self.started_at = wall_clock()
        self._t0 = clock()
        self._t_end: float | None = None
        self._step_start = 0  # index of the first block of the current provider request
        self._early_outputs: dict[str, list[dict[str, Any]]] = {}  # outputs before their call
        self._early_live: dict[str, LiveOutput] = {}  # printed before the call's start was applied
        self._handlers: dict[str, Callable[[Any], None]] = {
            "token": self._token,
            "reasoning": self._reasoning,
            "tool.started": self._tool_started,
            "tool.completed": self._tool_completed,
            "usage": self._usage,
            "retry": self._retry,
            "notice": self._notice,
            "error": self._error,
            "done": self._done,
        }

    # -- events ---------------------------------------------------------------

    def apply(self, event: Event) -> None:
        """Record one event; O(1) amortized."""
        handler = self._handlers.get(event.kind)
        if handler is not None:
            handler(event)

    def apply_all(self, events: Iterable[Event]) -> TurnDisplay:
        for event in events:
            self.apply(event)
        return self

    def restart_clock(self) -> None:
        """Count elapsed time from now (a renderer calls this when it goes on screen)."""
        self.started_at = self._wall_clock()
        self._t0 = self._clock()

    def _token(self, event: Token) -> None:
        last = self.blocks[-1] if self.blocks else None
        if type(last) is not TextBlock or last.discarded:
            last = TextBlock()
            self.blocks.append(last)
        last.append(event.text)

    def _reasoning(self, event: Reasoning) -> None:
        last = self.blocks[-1] if self.blocks else None
        if not isinstance(last, ReasoningBlock) or last.discarded:
            last = ReasoningBlock()
            self.blocks.append(last)
        last.append(event.text)

    def _tool_started(self, event: ToolStarted) -> None:
        card = ToolCard(call_id=event.call_id, name=event.name, arguments=dict(event.arguments))
        card.outputs.extend(self._early_outputs.pop(event.call_id, ()))
        card.live = self._early_live.pop(event.call_id, card.live)
        self.cards[event.call_id] = card
        self.blocks.append(card)

    def _tool_completed(self, event: ToolCompleted) -> None:
        card = self.cards.get(event.call_id)
        if card is None:  # a result without a start: still show it
            card = ToolCard(call_id=event.call_id, name=event.name)
            self.cards[event.call_id] = card
            self.blocks.append(card)
        card.status = status_of_result(event.result, event.is_error)
        card.duration = event.duration
        card.result = event.result
        card.live = LiveOutput()  # the result holds it all now
        for output in safe_bundles(event.outputs):
            if output not in card.outputs:
                card.outputs.append(output)
        card.touch()
        self.tool_seconds += max(0.0, event.duration)
        self._step_start = len(self.blocks)

    def _usage(self, event: Usage) -> None:
        self.input_tokens += event.input_tokens
        self.cached_tokens += event.cached_tokens
        self.output_tokens += event.output_tokens
        if event.cost is not None:
            self.cost = (self.cost or 0.0) + event.cost
        self.status_version += 1

    def _retry(self, event: Retry) -> None:
        for block in self.blocks[self._step_start :]:
            if isinstance(block, TextBlock) and not block.discarded:
                block.discarded = True
                block.touch()
        self.blocks.append(
            RetryBlock(attempt=event.attempt, delay=event.delay, reason=event.reason)
        )
        self._step_start = len(self.blocks)

    def _notice(self, event: Notice) -> None:
        self.blocks.append(NoticeBlock(text=event.text))

    def _error(self, event: ErrorEvent) -> None:
        self.blocks.append(ErrorBlock(message=event.message, error_type=event.error_type))

    def _done(self, event: Done) -> None:
        self.finish(event.stop_reason)

    def finish(self, stop_reason: str = "complete") -> None:
        """Stop the clock; calls still running will never end now."""
        if self._t_end is None:
            self._t_end = self._clock()
        if self.stop_reason is None:
            self.stop_reason = stop_reason
        for block in self.blocks:  # a saved transcript shows how the run ended
            if isinstance(block, NoticeBlock) and block.text == CANCELLING:
                block.text = CANCELLED if self.stop_reason == "cancelled" else "Cancel requested."
                block.touch()
        for card in self.cards.values():
            if card.status == "running":
                card.status = "cancelled"
                card.touch()
        self.status_version += 1

    def add_live_output(self, call_id: str, stream: str, text: str) -> None:
        """What a running call printed just now (``stream``: "stdout" or "stderr").

        A tool on another thread may print before its ``ToolStarted`` event is applied
        (events come through a queue): that waits for it, as early outputs do.
        """
        card = self.cards.get(call_id)
        if card is None:
            if call_id and len(self._early_live) < 4:
                self._early_live.setdefault(call_id, LiveOutput()).add(stream, text)
        elif card.status == "running":
            card.live.add(stream, text)

    def add_outputs(self, call_id: str, outputs: Iterable[dict[str, Any]]) -> ToolCard | None:
        """Attach rich outputs (figures, tables) to a call's card; duplicates are skipped.

        Outputs may arrive before the call's ``ToolStarted`` event has been applied
        (they come from the cell thread, the event from a queue); they wait for it.
        """
        outputs = safe_bundles(list(outputs))  # only images we show, and text
        card = self.cards.get(call_id)
        if card is None:
            self._early_outputs.setdefault(call_id, []).extend(outputs)
            return None
        added = False
        for output in outputs:
            if output not in card.outputs:
                card.outputs.append(output)
                added = True
        if added:
            card.touch()
        return card

    # -- reading ----------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._t_end is None

    @property
    def elapsed(self) -> float:
        end = self._clock() if self._t_end is None else self._t_end
        return max(0.0, end - self._t0)

    @property
    def tokens_per_second(self) -> float | None:
        """Output tokens per second of generation (time spent in tools is left out).

        None unless measured over at least MIN_RATE_SECONDS and MIN_RATE_TOKENS: a
        replayed or cached reply arrives at once, and its "rate" would be nonsense.
        """
        generating = self.elapsed - self.tool_seconds
        if self.output_tokens < MIN_RATE_TOKENS or generating < MIN_RATE_SECONDS:
            return None
        return self.output_tokens / generating

    @property
    def text(self) -> str:
        """The answer: every text block that was not discarded, in order."""
        return "".join(b.text for b in self.visible_blocks() if type(b) is TextBlock)

    @property
    def is_empty(self) -> bool:
        return not any(True for _ in self.visible_blocks())

    def visible_blocks(self) -> Iterable[Block]:
        for block in self.blocks:
            if isinstance(block, TextBlock) and (block.discarded or not block.text.strip()):
                continue
            yield block

    def status(self) -> StatusLine:
        return StatusLine(
            model=self.model,
            started_at=self.started_at,
            elapsed=self.elapsed,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            tokens_per_second=self.tokens_per_second,
            cost=self.cost,
            running=self.running,
            stop_reason=self.stop_reason,
            cached_tokens=self.cached_tokens,
        )
