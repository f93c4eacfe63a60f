"""What a run reports, as plain data.

Events cross threads (agent thread -> cell thread) and may be stored or replayed, so
they are small frozen dataclasses with a ``kind`` that never changes meaning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "Done",
    "ErrorEvent",
    "Event",
    "Notice",
    "Reasoning",
    "Retry",
    "Token",
    "ToolCompleted",
    "ToolStarted",
    "Usage",
]

StopReason = Literal["complete", "cancelled", "turn_limit", "error"]


@dataclass(frozen=True)
class Token:
    """A piece of assistant text."""

    text: str
    kind: Literal["token"] = "token"


@dataclass(frozen=True)
class Reasoning:
    """A piece of the model's visible reasoning, shown apart from the answer."""

    text: str
    kind: Literal["reasoning"] = "reasoning"


@dataclass(frozen=True)
class ToolStarted:
    """The model asked for a tool; it is about to run (or to be approved)."""

    call_id: str
    name: str
    arguments: dict[str, Any]
    kind: Literal["tool.started"] = "tool.started"


@dataclass(frozen=True)
class ToolCompleted:
    """A tool call ended; ``result`` is what the model sees, ``outputs`` what the user sees."""

    call_id: str
    name: str
    result: str
    duration: float
    is_error: bool = False
    outputs: tuple[dict[str, Any], ...] = ()
    kind: Literal["tool.completed"] = "tool.completed"


@dataclass(frozen=True)
class Usage:
    """Token counts of one provider request; ``cost`` in USD when known.
    ``cached_tokens`` of the input tokens were read from the provider's prompt cache."""

    input_tokens: int
    output_tokens: int
    cost: float | None = None
    kind: Literal["usage"] = "usage"
    cached_tokens: int = 0


@dataclass(frozen=True)
class Retry:
    """A request failed and will be sent again; the step's partial output is discarded."""

    attempt: int
    delay: float
    reason: str
    kind: Literal["retry"] = "retry"


@dataclass(frozen=True)
class Notice:
    """Something the user should know that is not an error (e.g. a model without tools)."""

    text: str
    kind: Literal["notice"] = "notice"


@dataclass(frozen=True)
class ErrorEvent:
    """The run failed; ``message`` is one line for the user."""

    message: str
    error_type: str = "HermesError"
    kind: Literal["error"] = "error"


@dataclass(frozen=True)
class Done:
    """The run ended, for the given reason."""

    stop_reason: StopReason = "complete"
    extra: dict[str, Any] = field(default_factory=dict)
    kind: Literal["done"] = "done"


Event = Token | Reasoning | ToolStarted | ToolCompleted | Usage | Retry | Notice | ErrorEvent | Done
