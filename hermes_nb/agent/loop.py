"""The agent loop: one user turn, from the request to the final answer.

Send the history and the tools, stream the reply, run the tools it asks for, send
the results back, repeat. Everything is reported to a sink as events and recorded
in a TurnState for checkpoints. The loop knows no API (providers do) and no
Jupyter (the caller does); it never raises for provider or tool failures, and
whatever way it ends, every tool call in its messages has exactly one result.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hermes_nb.agent.events import (
    Done,
    ErrorEvent,
    Event,
    Notice,
    Reasoning,
    Retry,
    StopReason,
    Token,
    ToolCompleted,
    ToolStarted,
    Usage,
)
from hermes_nb.agent.history import CleanCache, drop_failed_requests, to_provider_messages
from hermes_nb.agent.images import MAX_IMAGES_PER_CALL, ImageStore
from hermes_nb.agent.providers.base import (
    Provider,
    ReasoningDelta,
    RetryNotice,
    StreamNotice,
    TextDelta,
    ToolCallRequest,
    UsageChunk,
)
from hermes_nb.agent.textcalls import TEXT_CALLS_NOTICE, CallReader
from hermes_nb.agent.toolrun import (
    CANCELLED,
    Approver,
    Cancelled,
    KernelRunner,
    OutputTap,
    ToolRunner,
    parse_arguments,
)
from hermes_nb.agent.tools.registry import ToolOutput, ToolRegistry, check_policy
from hermes_nb.agent.turn import TurnState
from hermes_nb.errors import HermesError
from hermes_nb.safety.redact import redact

__all__ = ["Agent", "TurnResult"]

log = logging.getLogger("hermes_nb.agent")

#: the cleaned history of the last turn, reused by the next (``CleanCache``)
_CLEANED = CleanCache()

Sink = Callable[[Event], None]


@dataclass
class TurnResult:
    """How a turn ended.

    ``messages`` are the messages this turn produced (assistant messages, tool
    results; not the user message). ``text`` is the final answer when
    ``stop_reason`` is "complete"; otherwise the text streamed but not part of any
    message (what a cancel or an error cut off), for the caller to keep or drop.
    """

    messages: list[dict[str, Any]] = field(default_factory=list)
    text: str = ""
    stop_reason: str = "complete"
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float | None = None
    error: str | None = None
    #: input tokens read from the provider's prompt cache (part of ``input_tokens``)
    cached_tokens: int = 0


class Agent:
    """A provider, tools and the rules for using them; ``run`` plays one user turn.

    ``max_turns`` bounds the model requests of one turn. ``policies`` override each
    tool's own policy by name. ``approve(name, arguments)`` answers "ask" (without
    it, "ask" means deny). ``kernel_runner(fn)`` runs tools marked ``needs_kernel``
    on the thread that owns the kernel and returns fn's ToolOutput; by default fn is
    called where the loop runs. ``output_tap(call_id, stream, text)`` receives what a
    running tool prints (``python``, ``shell``), from the thread printing it. ``images`` keeps the images tools return (in memory
    by default); ``vision`` says whether the model is sent them. Attributes may be
    changed between runs.
    """

    def __init__(
        self,
        provider: Provider,
        tools: ToolRegistry | None = None,
        *,
        system_prompt: str | None = None,
        max_turns: int = 10,
        policies: dict[str, str] | None = None,
        approve: Approver | None = None,
        kernel_runner: KernelRunner | None = None,
        max_result_chars: int = 20_000,
        images: ImageStore | None = None,
        vision: bool = False,
    ) -> None:
        self.provider = provider
        self.tools = tools if tools is not None else ToolRegistry()
        self.system_prompt = system_prompt
        self.max_turns = max(1, max_turns)
        self.policies = {name: check_policy(p, name) for name, p in (policies or {}).items()}
        self.approve = approve
        self.kernel_runner = kernel_runner
        self.output_tap: OutputTap | None = None
        self.max_result_chars = max_result_chars
        self.images = images if images is not None else ImageStore(None)
        self.vision = vision

    def run(
        self,
        history: list[dict[str, Any]],
        user_message: str | None,
        sink: Sink,
        cancel: threading.Event,
        turn: TurnState | None = None,
        context: list[dict[str, Any]] | None = None,
    ) -> TurnResult:
        """Play one turn on the calling thread and report it to ``sink``.

        ``history`` is the session's stored messages (cleaned here; not modified);
        ``user_message=None`` continues it as it is (resume). ``cancel`` is checked
        between chunks and between tools. ``turn`` receives every change for
        checkpoints. ``context`` (kernel variables, the namespace summary) goes with
        the user message. Provider and tool failures never raise: see TurnResult.
        """
        return _Run(self, sink, cancel, turn or TurnState()).execute(history, user_message, context)


class _Run:
    """The mutable state of one ``Agent.run`` call."""

    def __init__(self, agent: Agent, sink: Sink, cancel: threading.Event, turn: TurnState) -> None:
        self.agent = agent
        self.sink = sink
        self.cancel = cancel
        self.turn = turn
        self.result = TurnResult()
        self.open_calls: list[tuple[str, str, str]] = []
        self.unnamed_calls = 0
        self.said_text_calls = False
        self.runner = ToolRunner(
            agent.tools, agent.policies, agent.approve, agent.kernel_runner, agent.max_result_chars,
            agent.output_tap,
        )

    def execute(
        self,
        history: list[dict[str, Any]],
        user_message: str | None,
        context: list[dict[str, Any]] | None = None,
    ) -> TurnResult:
        asked: list[dict[str, Any]] = []
        if user_message is not None:
            asked = [{"role": "user", "content": user_message, "context": context or []}]
        kept = drop_failed_requests(history, keep_last=user_message is None)
        before = [*kept, *asked]
        loader = self.agent.images.data_url if self.agent.vision else None
        tools = self._tool_schemas()
        try:
            base = to_provider_messages(before, self.agent.system_prompt, images=loader, cache=_CLEANED)
            for _ in range(self.agent.max_turns):
                if self.cancel.is_set():
                    return self._finish("cancelled")
                request = self._request(before, base, loader)
                text, calls = self._stream(request, tools)
                if self.cancel.is_set():
                    self.result.text = text
                    return self._finish("cancelled")
                if not calls:
                    self._add({"role": "assistant", "content": text})
                    self.result.text = text
                    return self._finish("complete")
                self._run_tools(text, calls)
                if self.cancel.is_set():
                    return self._finish("cancelled")
        except (Cancelled, KeyboardInterrupt):
            self.cancel.set()
            return self._finish("cancelled")
        except Exception as exc:  # a provider failure (or a bug) ends the turn, never the kernel
            log.debug("agent run failed", exc_info=True)
            return self._fail(exc)
        limit = self.agent.max_turns
        self._emit(
            Notice(
                f"Stopped after {limit} model requests without a final answer "
                f"(max_turns={limit}). Run %agent resume to let it go on, or raise the "
                "limit (%%agent --max-turns N, or %config AgentMagics.max_turns)."
            )
        )
        return self._finish("turn_limit")

    def _request(
        self, before: list[dict[str, Any]], base: list[dict[str, Any]], loader: Any
    ) -> list[dict[str, Any]]:
        """The messages of the next request: the history, cleaned once per turn, then
        this turn's messages. Keeping the same history objects from step to step lets
        the provider reuse their encoding (a long session then costs each step only
        what the step added). Only new images can change the history's part (which of
        all images are the newest few that are sent): then it is all built again."""
        turn = self.result.messages
        if loader is not None and any(m.get("images") for m in turn):
            return to_provider_messages([*before, *turn], self.agent.system_prompt, images=loader)
        return base + to_provider_messages(turn, images=loader)

    def _tool_schemas(self) -> list[dict[str, Any]]:
        if not len(self.agent.tools):
            return []
        if not self.agent.provider.supports_tools:
            name = self.agent.provider.spec or type(self.agent.provider).__name__
            self._emit(Notice(f"{name} cannot call tools; running as plain chat"))
            return []
        return self.agent.tools.schemas()

    def _stream(
        self, request: list[dict[str, Any]], tools: list[dict[str, Any]]
    ) -> tuple[str, list[ToolCallRequest]]:
        """One provider request: forward its chunks, return (text, tool calls).

        With tools, calls the model writes as text are read too (``textcalls``), and
        run when it used no native call. On cancel the partial text is returned and
        also left in the TurnState.
        """
        parts: list[str] = []
        calls: list[ToolCallRequest] = []
        reader = self._call_reader(request, tools)
        stream = self.agent.provider.stream(request, tools, self.cancel)
        try:
            for chunk in stream:
                if isinstance(chunk, TextDelta):
                    self._show(parts, reader.feed(chunk.text) if reader else chunk.text)
                elif isinstance(chunk, ToolCallRequest):
                    calls.append(chunk)
                elif isinstance(chunk, ReasoningDelta):
                    if chunk.text:
                        self._emit(Reasoning(chunk.text))
                elif isinstance(chunk, UsageChunk):
                    self._count(chunk)
                elif isinstance(chunk, StreamNotice):
                    self._emit(Notice(chunk.text))
                elif isinstance(chunk, RetryNotice):
                    parts.clear()
                    calls.clear()
                    reader = self._call_reader(request, tools)
                    self.turn.set_partial_text("")
                    self._emit(Retry(chunk.attempt, chunk.delay, chunk.reason))
                if self.cancel.is_set():
                    break
            if reader is not None and not self.cancel.is_set():
                self._show(parts, reader.finish())
                calls = self._text_calls(parts, calls, reader)
        finally:
            self.result.text = "".join(parts)  # kept if the stream fails half-way
            close = getattr(stream, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:  # closing must not hide why the stream ended
                    log.debug("closing the provider stream failed", exc_info=True)
        return self.result.text, calls

    def _show(self, parts: list[str], text: str) -> None:
        if text:
            parts.append(text)
            self.turn.append_text(text)
            self._emit(Token(text))

    def _call_reader(self, request: list[dict[str, Any]], tools: list[dict[str, Any]]) -> CallReader | None:
        """What reads calls written as text: only with tools, and only for a model
        that has never used the native field."""
        if not tools or self.agent.provider.native_tool_calls:
            return None
        results = [m["content"] for m in request if m.get("role") == "tool" and isinstance(m.get("content"), str)]
        return CallReader(self.agent.tools, quoted=lambda body: any(body in text for text in results))

    def _text_calls(
        self, parts: list[str], calls: list[ToolCallRequest], reader: CallReader
    ) -> list[ToolCallRequest]:
        """The calls to run: the native ones, else those written as text. Blocks read
        as calls but not run (the reply had native calls) are shown after all."""
        if calls:
            self.agent.provider.native_tool_calls = True
        if calls or not reader.calls:
            for block in reader.hidden:
                self._show(parts, block)
            return calls
        if not self.said_text_calls:
            self.said_text_calls = True
            self._emit(Notice(TEXT_CALLS_NOTICE))
        return list(reader.calls)

    def _count(self, chunk: UsageChunk) -> None:
        result = self.result
        result.input_tokens += chunk.input_tokens
        result.output_tokens += chunk.output_tokens
        result.cached_tokens += chunk.cache_read_tokens
        if chunk.cost is not None:
            result.cost = (result.cost or 0.0) + chunk.cost
        self._emit(Usage(chunk.input_tokens, chunk.output_tokens, chunk.cost, cached_tokens=chunk.cache_read_tokens))

    def _run_tools(self, text: str, requests: list[ToolCallRequest]) -> None:
        """Record the assistant's calls, then answer each one in order."""
        calls: list[tuple[str, str, str]] = []
        for r in requests:
            # some local servers send no id, or the same one twice: every result needs its own
            call_id = r.call_id if r.call_id and r.call_id not in {c[0] for c in calls} else ""
            calls.append((call_id or self._new_call_id(), r.name, r.arguments))
        message = {
            "role": "assistant",
            "content": text or None,
            "tool_calls": [
                {"id": cid, "type": "function", "function": {"name": name, "arguments": args}}
                for cid, name, args in calls
            ],
        }
        self.open_calls = list(calls)
        self._add(message, open_calls=calls)
        self.result.text = ""
        for call_id, name, raw in calls:
            if self.cancel.is_set():
                return
            arguments, problem = parse_arguments(raw)
            shown = arguments if problem is None else {"_invalid_json": raw if len(raw) <= 2000 else raw[:2000] + "…"}
            self._emit(ToolStarted(call_id, name, shown))
            started = time.monotonic()
            try:
                output = self.runner.run(name, raw, self.cancel, call_id)
            except (Cancelled, KeyboardInterrupt):
                self._answer(call_id, name, ToolOutput(CANCELLED, is_error=True), started)
                raise
            self._answer(call_id, name, output, started)

    def _new_call_id(self) -> str:
        """An id for a call the provider sent without a usable one."""
        self.unnamed_calls += 1
        return f"call_hnb_{time.time_ns():x}_{self.unnamed_calls}"

    def _answer(self, call_id: str, name: str, output: ToolOutput, started: float) -> None:
        self._emit(
            ToolCompleted(
                call_id, name, output.text, time.monotonic() - started, output.is_error, output.outputs
            )
        )
        self.open_calls = [c for c in self.open_calls if c[0] != call_id]
        message: dict[str, Any] = {"role": "tool", "tool_call_id": call_id, "content": output.text}
        if output.is_error:  # kept, so the saved call reads as failed whatever its text says
            message["is_error"] = True
        if output.images:
            message["images"] = self._save_images(output)
        self._add(message, close_call=call_id)

    def _save_images(self, output: ToolOutput) -> list[dict[str, Any]]:
        """Images go to files beside the session; the message keeps references."""
        refs = []
        for image in output.images[:MAX_IMAGES_PER_CALL]:
            try:
                refs.append(self.agent.images.save(image))
            except OSError as exc:  # a full disk loses the image, not the run
                log.warning("could not save a tool image: %s", exc)
        return refs

    def _add(self, message: dict[str, Any], **changes: Any) -> None:
        message["at"] = time.time()
        self.result.messages.append(message)
        self.turn.add_message(message, **changes)

    def _close_open_calls(self) -> None:
        """Calls that never got a result get "Cancelled by the user." so history stays valid."""
        for call_id, _name, _args in list(self.open_calls):
            self._add(
                {"role": "tool", "tool_call_id": call_id, "content": CANCELLED}, close_call=call_id
            )
        self.open_calls = []

    def _fail(self, exc: Exception) -> TurnResult:
        lines = str(exc).strip().splitlines()
        message = lines[0] if lines else type(exc).__name__
        if not isinstance(exc, HermesError):
            message = f"{type(exc).__name__}: {message}"
        message = redact(message)
        self.result.error = message
        self._emit(ErrorEvent(message, type(exc).__name__))
        return self._finish("error")

    def _finish(self, reason: StopReason) -> TurnResult:
        self._close_open_calls()
        if reason != "complete" and self.result.text:
            self.turn.set_partial_text(self.result.text)
        self.result.stop_reason = reason
        self.turn.finish()
        self._emit(Done(reason))
        return self.result

    def _emit(self, event: Event) -> None:
        self.sink(event)
