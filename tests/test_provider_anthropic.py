"""The Anthropic provider against a real Messages-API SSE server, with the real SDK."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sse_server import (
    ScriptedServer,
    drop_reply,
    error_reply,
    malformed_reply,
    stall_reply,
    text_reply,
    tool_reply,
)

from hermes_nb.agent.providers.anthropic_messages import CONTINUE, to_anthropic, to_anthropic_tools
from hermes_nb.agent.providers.anthropic_provider import AnthropicProvider
from hermes_nb.agent.providers.base import (
    ReasoningDelta,
    RetryNotice,
    TextDelta,
    ToolCallRequest,
    UsageChunk,
)
from hermes_nb.agent.providers.retry import RetryPolicy
from hermes_nb.errors import (
    AuthenticationError,
    ProviderUnavailableError,
    RateLimitError,
    UnknownModelError,
)

KEY = "sk-ant-test-secret-0123456789"
FAST = RetryPolicy(retries=3, base_delay=0.01)
TOOLS = [{"type": "function", "function": {"name": "add", "description": "Add two numbers.", "parameters": {"type": "object", "properties": {"a": {"type": "integer"}}}}}]
HISTORY = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "What is 1+2?"},
]


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedServer]:
    with ScriptedServer() as srv:
        monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
        yield srv


def make(server: ScriptedServer, model: str = "claude-sonnet-4-6", retry: RetryPolicy = FAST) -> AnthropicProvider:
    return AnthropicProvider(f"anthropic:{model}", model, base_url=server.root_url, retry=retry)


def run(provider: Any, tools: list[dict[str, Any]] | None = None, cancel: threading.Event | None = None) -> list[Any]:
    return list(provider.stream(HISTORY, tools or [], cancel or threading.Event()))


def texts(chunks: list[Any]) -> str:
    return "".join(c.text for c in chunks if isinstance(c, TextDelta))


def test_text_usage_and_request_shape(server: ScriptedServer) -> None:
    server.push(text_reply("Thr", "ee.", usage=(1000, 100)))
    chunks = run(make(server), tools=TOOLS)
    assert texts(chunks) == "Three."
    (usage,) = [c for c in chunks if isinstance(c, UsageChunk)]
    assert (usage.input_tokens, usage.output_tokens) == (1000, 100)
    assert usage.cost == pytest.approx((1000 * 3 + 100 * 15) / 1e6)
    (request,) = server.requests
    assert request.path == "/v1/messages"
    cache = {"type": "ephemeral"}  # prompt-cache breakpoints: the system prompt, the request's end
    assert request.body["system"] == [{"type": "text", "text": "Be brief.", "cache_control": cache}]
    assert request.body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "What is 1+2?", "cache_control": cache}]}
    ]
    assert request.body["tools"] == to_anthropic_tools(TOOLS)
    assert request.body["max_tokens"] > 0 and request.body["stream"] is True
    assert KEY in request.headers.get("x-api-key", "") + request.headers.get("authorization", "")


def test_thinking_deltas(server: ScriptedServer) -> None:
    server.push(text_reply("3", reasoning="1 plus 2"))
    chunks = run(make(server))
    assert chunks[0] == ReasoningDelta("1 plus 2")


def test_several_tool_calls(server: ScriptedServer) -> None:
    server.push(tool_reply([("toolu_1", "add", {"a": 1, "b": 2}), ("toolu_2", "add", {"a": 3})], text="Adding.", pieces=4))
    chunks = run(make(server), tools=TOOLS)
    calls = [c for c in chunks if isinstance(c, ToolCallRequest)]
    assert [(c.call_id, c.name, json.loads(c.arguments)) for c in calls] == [
        ("toolu_1", "add", {"a": 1, "b": 2}),
        ("toolu_2", "add", {"a": 3}),
    ]
    assert texts(chunks) == "Adding."


def test_retries_429_overloaded_drop_and_malformed(server: ScriptedServer) -> None:
    server.push(error_reply(429, retry_after=0.3), error_reply(529, "Overloaded"), drop_reply(), malformed_reply(), text_reply("ok"))
    chunks = run(make(server, retry=RetryPolicy(retries=4, base_delay=0.01)))
    reasons = [c.reason for c in chunks if isinstance(c, RetryNotice)]
    assert reasons == ["rate limited (HTTP 429)", "server error (HTTP 529)", "the connection dropped", "a malformed reply"]
    assert chunks[-2:] == [TextDelta("ok"), chunks[-1]] and isinstance(chunks[-1], UsageChunk)
    first, second = server.requests[:2]
    assert second.at - first.at >= 0.25


def test_error_event_inside_the_stream_is_retried(server: ScriptedServer) -> None:
    event = 'event: error\ndata: {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}\n\n'
    server.push({"steps": [{"text": "x"}, {"raw": event}]}, text_reply("ok"))
    chunks = run(make(server))
    assert [c.reason for c in chunks if isinstance(c, RetryNotice)] == ["server error (overloaded_error)"]


def test_retries_exhausted(server: ScriptedServer) -> None:
    server.push(*[error_reply(500)] * 4)
    with pytest.raises(ProviderUnavailableError, match="gave up after 3 retries"):
        run(make(server))
    server.push(*[error_reply(429, retry_after=0.01)] * 4)
    with pytest.raises(RateLimitError):
        run(make(server))


def test_missing_key(server: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    with pytest.raises(AuthenticationError, match="ANTHROPIC_API_KEY"):
        run(make(server))
    assert server.requests == []


def test_rejected_key_is_not_echoed(server: ScriptedServer) -> None:
    server.push(error_reply(401, f"invalid x-api-key {KEY}"))
    with pytest.raises(AuthenticationError) as info:
        run(make(server))
    assert "ANTHROPIC_API_KEY" in str(info.value) and KEY not in str(info.value)


def test_unknown_model(server: ScriptedServer) -> None:
    server.push(error_reply(404, "model: claude-9"))
    with pytest.raises(UnknownModelError, match="claude-9"):
        run(make(server, model="claude-9"))


def test_cancel_while_the_server_stalls(server: ScriptedServer) -> None:
    server.push(stall_reply(60))
    cancel = threading.Event()
    provider = make(server)
    provider.prepare()  # building the SDK's connection pool is not part of what is timed
    cancelled_at: list[float] = []

    def cancel_now() -> None:
        cancelled_at.append(time.monotonic())
        cancel.set()

    chunks: list[Any] = []
    timer: threading.Timer | None = None
    for chunk in provider.stream(HISTORY, [], cancel):
        chunks.append(chunk)
        if timer is None:  # the text arrived: cancel while the reader waits on the stalled server
            timer = threading.Timer(0.3, cancel_now)
            timer.start()
    assert time.monotonic() - cancelled_at[0] < 2.0
    assert texts(chunks) == "Thinking"


# -- message conversion


def test_conversion_of_a_tool_conversation() -> None:
    messages = [
        {"role": "system", "content": "A"},
        {"role": "system", "content": "B"},
        {"role": "user", "content": "list files"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "list_files", "arguments": '{"path": "."}'}},
            {"id": "c2", "type": "function", "function": {"name": "read_file", "arguments": "{not json"}},
        ]},
        {"role": "tool", "tool_call_id": "c1", "content": "a.csv"},
        {"role": "tool", "tool_call_id": "c2", "content": ""},
        {"role": "user", "content": "and now?"},
        {"role": "marker", "kind": "cancelled", "content": "Cancelled."},
        {"role": "assistant", "content": "Done."},
    ]
    system, converted = to_anthropic(messages)
    assert system == "A\n\nB"
    assert converted == [
        {"role": "user", "content": [{"type": "text", "text": "list files"}]},
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "c1", "name": "list_files", "input": {"path": "."}},
            {"type": "tool_use", "id": "c2", "name": "read_file", "input": {}},
        ]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "c1", "content": "a.csv"},
            {"type": "tool_result", "tool_use_id": "c2", "content": "(no output)"},
            {"type": "text", "text": "and now?"},
        ]},
        {"role": "assistant", "content": [{"type": "text", "text": "Done."}]},
    ]


def test_without_tools_earlier_tool_calls_become_text() -> None:
    messages = [
        {"role": "user", "content": "files?"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "list_files", "arguments": '{"path": "."}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "a.csv"},
        {"role": "assistant", "content": "One file."},
    ]
    _, converted = to_anthropic(messages, tool_blocks=False)
    assert converted == [
        {"role": "user", "content": [{"type": "text", "text": "files?"}]},
        {"role": "assistant", "content": [{"type": "text", "text": '(called list_files with {"path": "."})'}]},
        {"role": "user", "content": [{"type": "text", "text": "(tool result) a.csv"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "One file."}]},
    ]


def test_conversion_starts_with_a_user_and_skips_empty_text() -> None:
    _, converted = to_anthropic([{"role": "assistant", "content": "Hi"}, {"role": "user", "content": "  "}, {"role": "user", "content": "Q"}])
    assert converted[0] == {"role": "user", "content": [{"type": "text", "text": CONTINUE}]}
    assert converted[1:] == [
        {"role": "assistant", "content": [{"type": "text", "text": "Hi"}]},
        {"role": "user", "content": [{"type": "text", "text": "Q"}]},
    ]


def test_conversion_of_images() -> None:
    content = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
    ]
    _, converted = to_anthropic([{"role": "user", "content": content}])
    assert converted[0]["content"][1] == {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}
