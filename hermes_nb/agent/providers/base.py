"""The one interface between the agent loop and any model API.

A provider only knows how to talk to its API; the loop knows nothing about any API.
Messages going in are OpenAI-style dicts (``role``, ``content``, ``tool_calls``,
``tool_call_id``) already cleaned of hermes_nb's own keys; tools are OpenAI function
schemas. What comes out is a stream of small chunks.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Chunk",
    "Provider",
    "ReasoningDelta",
    "RetryNotice",
    "StreamNotice",
    "TextDelta",
    "ToolCallRequest",
    "UsageChunk",
]


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ReasoningDelta:
    text: str


@dataclass(frozen=True)
class ToolCallRequest:
    """A complete tool call (argument deltas already assembled); ``arguments`` is raw JSON."""

    call_id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class UsageChunk:
    """Token counts of one request. ``input_tokens`` counts every prompt token, the
    cached ones too: ``cache_read_tokens`` of them came from the provider's prompt
    cache, ``cache_write_tokens`` were written to it (each priced differently)."""

    input_tokens: int
    output_tokens: int
    cost: float | None = None
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0


@dataclass(frozen=True)
class StreamNotice:
    """One line for the user about this request (a reply cut at its length limit, a
    runaway reply stopped, tools refused by the server); not part of the answer."""

    text: str


@dataclass(frozen=True)
class RetryNotice:
    """The request is being sent again: drop this step's partial text and tool calls."""

    attempt: int
    delay: float
    reason: str


Chunk = TextDelta | ReasoningDelta | ToolCallRequest | UsageChunk | RetryNotice | StreamNotice


class Provider(ABC):
    """One configured model. Instances are reused across runs; ``stream`` is called
    from the agent thread and must return promptly once ``cancel`` is set."""

    #: ``provider:model`` as the user wrote it
    spec: str = ""
    #: whether the model accepts ``tools``; when False the loop runs plain chat
    supports_tools: bool = True
    #: tokens of context the model accepts, used to decide when to compress
    context_window: int = 128_000
    #: whether asking this model for a session title is worth a request (not for
    #: scripted or tiny offline models, whose titles come from the first words)
    generates_titles: bool = True
    #: set once the model has used the API's tool-call field: its text is then never
    #: read for calls written as text (``agent/textcalls.py``), which a model that
    #: calls tools natively only writes when it quotes something
    native_tool_calls: bool = False
    #: the most tokens one reply may have (``AgentMagics.max_output_tokens``);
    #: None: the model's default from ``limits.default_output_limit``
    max_output_tokens: int | None = None

    @abstractmethod
    def stream(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        cancel: threading.Event,
    ) -> Iterator[Chunk]:
        """Send one request and yield its reply as it arrives.

        Retries (rate limits, 5xx, dropped connections) happen inside, each announced
        by a ``RetryNotice``. Failures raise ``hermes_nb.errors.ProviderError``
        subclasses. On cancel, stop reading and return.
        """

    def prepare(self) -> None:
        """Do the slow, offline part of the first request now (import the SDK, build
        the connection pool), so that request leaves at once. Called from a background
        thread after ``%load_ext``; never sends anything."""
        return None

    def complete(self, messages: list[dict[str, Any]], cancel: threading.Event | None = None) -> str:
        """A whole text reply without tools (titles, summaries)."""
        cancel = cancel or threading.Event()
        return "".join(c.text for c in self.stream(messages, [], cancel) if isinstance(c, TextDelta))
