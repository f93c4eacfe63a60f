"""The OpenAI-protocol provider against a real scripted SSE server, with the real SDK."""

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
from waiting import refused_port, wait_until

from hermes_nb.agent.providers import resolve_provider
from hermes_nb.agent.providers.base import (
    ReasoningDelta,
    RetryNotice,
    TextDelta,
    ToolCallRequest,
    UsageChunk,
)
from hermes_nb.agent.providers.openai_compat import Endpoint, OpenAICompatProvider
from hermes_nb.agent.providers.retry import RetryPolicy
from hermes_nb.agent.providers.sse import sse_data
from hermes_nb.errors import (
    AuthenticationError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitError,
    UnknownModelError,
)

KEY = "sk-test-secret-0123456789"
FAST = RetryPolicy(retries=3, base_delay=0.01)
USER = [{"role": "user", "content": "hi"}]
TOOLS = [
    {"type": "function", "function": {"name": "add", "description": "Add.", "parameters": {"type": "object", "properties": {}}}},
]


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedServer]:
    with ScriptedServer() as srv:
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        monkeypatch.setenv("OPENAI_BASE_URL", srv.url)
        yield srv


def make(model: str = "gpt-4o-mini", retry: RetryPolicy = FAST) -> OpenAICompatProvider:
    return OpenAICompatProvider(f"openai:{model}", model, Endpoint("OpenAI", None, "OPENAI_BASE_URL"), retry=retry)


def run(provider: Any, messages: list[dict[str, Any]] = USER, tools: list[dict[str, Any]] | None = None,
        cancel: threading.Event | None = None) -> list[Any]:
    return list(provider.stream(messages, tools or [], cancel or threading.Event()))


def texts(chunks: list[Any]) -> str:
    return "".join(c.text for c in chunks if isinstance(c, TextDelta))


def test_text_usage_and_what_was_sent(server: ScriptedServer) -> None:
    server.push(text_reply("Hel", "lo", usage=(1000, 500)))
    chunks = run(make())
    assert texts(chunks) == "Hello"
    usage = [c for c in chunks if isinstance(c, UsageChunk)]
    assert usage == [UsageChunk(1000, 500, cost=pytest.approx((1000 * 0.15 + 500 * 0.60) / 1e6))]
    (request,) = server.requests
    assert request.path == "/v1/chat/completions"
    assert request.body["model"] == "gpt-4o-mini"
    assert request.body["messages"] == USER
    assert request.body["stream"] is True
    assert request.body["stream_options"] == {"include_usage": True}
    assert "tools" not in request.body
    assert request.headers["authorization"] == f"Bearer {KEY}"


def test_a_changed_key_or_server_is_used_by_the_next_request(server: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK client is kept between requests, but never past a change of key or URL."""
    provider = make()
    for _ in range(3):
        server.push(text_reply("ok"))
    run(provider)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-rotated-key-9876543210")
    run(provider)
    with ScriptedServer() as other:
        monkeypatch.setenv("OPENAI_BASE_URL", other.url)
        other.push(text_reply("elsewhere"))
        assert texts(run(provider)) == "elsewhere"
        assert other.requests[0].headers["authorization"] == "Bearer sk-rotated-key-9876543210"
    assert [r.headers["authorization"] for r in server.requests] == [
        f"Bearer {KEY}", "Bearer sk-rotated-key-9876543210",
    ]


def test_unknown_model_price_is_none(server: ScriptedServer) -> None:
    server.push(text_reply("x"))
    (usage,) = [c for c in run(make("my-finetune")) if isinstance(c, UsageChunk)]
    assert usage.cost is None


def test_reasoning_deltas(server: ScriptedServer) -> None:
    server.push(text_reply("42", reasoning="Let me think."))
    chunks = run(make())
    assert chunks[0] == ReasoningDelta("Let me think.")
    assert texts(chunks) == "42"


def test_several_tool_calls_assembled_from_split_deltas(server: ScriptedServer) -> None:
    args_a = {"a": 1, "b": [1, 2, 3], "text": "long " * 10}
    args_b = {"path": "data/sales.csv"}
    server.push(tool_reply([("call_a", "add", args_a), ("call_b", "read_file", args_b)], text="Let me see.", pieces=5))
    chunks = run(make(), tools=TOOLS)
    calls = [c for c in chunks if isinstance(c, ToolCallRequest)]
    assert [(c.call_id, c.name) for c in calls] == [("call_a", "add"), ("call_b", "read_file")]
    assert json.loads(calls[0].arguments) == args_a
    assert json.loads(calls[1].arguments) == args_b
    assert texts(chunks) == "Let me see."
    assert server.requests[0].body["tools"] == TOOLS


def test_tool_call_without_arguments_gets_empty_object(server: ScriptedServer) -> None:
    server.push({"steps": [{"tool_call": {"index": 0, "id": "c1", "name": "now", "arguments": ""}}, {"finish": "tool_calls"}]})
    (call,) = [c for c in run(make()) if isinstance(c, ToolCallRequest)]
    assert call == ToolCallRequest("c1", "now", "{}")


def test_429_waits_for_retry_after_then_succeeds(server: ScriptedServer) -> None:
    server.push(error_reply(429, "slow down", retry_after=0.6), text_reply("done"))
    chunks = run(make())
    notices = [c for c in chunks if isinstance(c, RetryNotice)]
    assert len(notices) == 1 and notices[0].delay == pytest.approx(0.6)
    assert "429" in notices[0].reason
    assert texts(chunks) == "done"
    first, second = server.requests
    assert 0.5 <= second.at - first.at < 3.0


def test_500_then_success(server: ScriptedServer) -> None:
    server.push(error_reply(500), text_reply("ok"))
    chunks = run(make())
    assert [c.reason for c in chunks if isinstance(c, RetryNotice)] == ["server error (HTTP 500)"]
    assert texts(chunks) == "ok"


def test_dropped_connection_then_success(server: ScriptedServer) -> None:
    server.push(drop_reply("Part"), text_reply("Whole"))
    chunks = run(make())
    # the partial text comes first, then the notice telling the loop to drop it
    assert chunks[0] == TextDelta("Part")
    assert isinstance(chunks[1], RetryNotice) and "connection" in chunks[1].reason
    assert texts(chunks[2:]) == "Whole"


def test_malformed_chunk_then_success(server: ScriptedServer) -> None:
    server.push(malformed_reply(), text_reply("Good"))
    chunks = run(make())
    assert [c.reason for c in chunks if isinstance(c, RetryNotice)] == ["a malformed reply"]
    assert texts(chunks).endswith("Good")


def test_error_event_mid_stream_is_retried(server: ScriptedServer) -> None:
    broken = {"steps": [{"raw": 'data: {"error": {"message": "overloaded"}}\n\n'}]}
    server.push(broken, text_reply("ok"))
    chunks = run(make())
    assert [c.reason for c in chunks if isinstance(c, RetryNotice)] == ["an error in the stream"]
    assert texts(chunks) == "ok"


def test_reply_cut_short_without_finish_is_retried(server: ScriptedServer) -> None:
    server.push({"steps": [{"text": "half"}]}, text_reply("full"))
    chunks = run(make())
    assert [c.reason for c in chunks if isinstance(c, RetryNotice)] == ["the reply stopped early"]


def test_retries_exhausted_raise_a_clear_error(server: ScriptedServer) -> None:
    server.push(*[error_reply(503, "maintenance")] * 4)
    with pytest.raises(ProviderUnavailableError, match=r"HTTP 503.*gave up after 3 retries"):
        run(make())
    assert len(server.requests) == 4


def test_rate_limit_exhausted(server: ScriptedServer) -> None:
    server.push(*[error_reply(429, retry_after=0.01)] * 3)
    with pytest.raises(RateLimitError, match="gave up after 2 retries"):
        run(make(retry=RetryPolicy(retries=2, base_delay=0.01)))


def test_retry_after_too_long_gives_up_at_once(server: ScriptedServer) -> None:
    server.push(error_reply(429, retry_after=3600))
    with pytest.raises(RateLimitError, match="3600 s"):
        run(make())
    assert len(server.requests) == 1


def test_missing_key_names_the_variable_and_sends_nothing(server: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(AuthenticationError, match="OPENAI_API_KEY"):
        run(make())
    assert server.requests == []


def test_rejected_key_never_appears_in_the_message(server: ScriptedServer) -> None:
    server.push(error_reply(401, f"Incorrect API key provided: {KEY}"))
    with pytest.raises(AuthenticationError) as info:
        run(make())
    assert "OPENAI_API_KEY" in str(info.value)
    assert KEY not in str(info.value) and KEY[3:12] not in str(info.value)
    assert len(server.requests) == 1  # not retried


def test_key_is_scrubbed_from_other_errors(server: ScriptedServer) -> None:
    server.push(error_reply(400, f"bad request from {KEY}"))
    with pytest.raises(ProviderError) as info:
        run(make())
    assert KEY not in str(info.value) and "HTTP 400" in str(info.value)


def test_404_is_an_unknown_model(server: ScriptedServer) -> None:
    server.push(error_reply(404, "The model `gpt-9` does not exist"))
    with pytest.raises(UnknownModelError, match="gpt-9"):
        run(make("gpt-9"))


def test_cancel_while_the_server_stalls_mid_stream(server: ScriptedServer) -> None:
    server.push(stall_reply(60))
    cancel = threading.Event()
    chunks: list[Any] = []
    provider = make()
    provider.prepare()  # building the SDK's connection pool is not part of what is timed
    started = time.monotonic()
    for chunk in provider.stream(USER, [], cancel):
        chunks.append(chunk)
        started = time.monotonic()  # the reader now waits on the stalled server
        threading.Timer(0.2, cancel.set).start()
    elapsed = time.monotonic() - started
    assert texts(chunks) == "Thinking"
    assert elapsed < 2.0
    assert wait_until(lambda: server.disconnects, 10), "the connection to the stalled server was not closed"
    server.push(text_reply("next"))  # the provider (and its connection pool) still works
    assert texts(run(provider)) == "next"


def test_cancel_while_waiting_for_response_headers(server: ScriptedServer) -> None:
    server.push({"stall_before_headers": 60})
    cancel = threading.Event()
    provider = make()
    provider.prepare()  # building the SDK's connection pool is not part of what is timed
    threading.Timer(0.2, cancel.set).start()
    started = time.monotonic()
    assert run(provider, cancel=cancel) == []
    assert time.monotonic() - started < 2.0


def test_cancel_during_retry_wait(server: ScriptedServer) -> None:
    server.push(error_reply(429, retry_after=30))
    cancel = threading.Event()
    chunks: list[Any] = []
    waited = 0.0
    for chunk in make().stream(USER, [], cancel):
        chunks.append(chunk)
        if isinstance(chunk, RetryNotice):  # now in the 30 s wait: cancel it
            cancel.set()
            waited = time.monotonic()
    assert [type(c) for c in chunks] == [RetryNotice]
    assert time.monotonic() - waited < 2.0


def test_complete_returns_the_text(server: ScriptedServer) -> None:
    server.push(text_reply("A ", "title"))
    assert make().complete(USER) == "A title"


def test_ollama_needs_no_key_and_costs_nothing(server: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    server.push(text_reply("local"))
    provider = resolve_provider("ollama:qwen3:8b", base_url=server.url, retry=FAST)
    chunks = run(provider)
    assert texts(chunks) == "local"
    assert [c.cost for c in chunks if isinstance(c, UsageChunk)] == [0.0]
    assert server.requests[0].body["model"] == "qwen3:8b"


def test_refusal_is_shown_as_text(server: ScriptedServer) -> None:
    refusal = 'data: {"id": "x", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [{"index": 0, "delta": {"refusal": "I cannot help with that."}, "finish_reason": null}]}\n\n'
    server.push({"steps": [{"raw": refusal}, {"finish": "stop"}]})
    assert texts(run(make())) == "I cannot help with that."


def test_local_server_down_says_so_after_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    with refused_port() as port:  # nothing listens there
        url = f"http://127.0.0.1:{port}/v1"
        provider = resolve_provider("ollama:llama3.2", base_url=url, retry=RetryPolicy(retries=1, base_delay=0.01))
        with pytest.raises(ProviderUnavailableError, match=r"Ollama at .* refused the connection \(is the server running\?\)"):
            run(provider)


def test_a_refused_connection_names_the_url_without_its_password(monkeypatch: pytest.MonkeyPatch) -> None:
    notices: list[Any] = []
    with refused_port() as port:  # nothing listens there
        url = f"http://alice:s3cret-pw@127.0.0.1:{port}/v1"
        provider = resolve_provider("compat:qwen", base_url=url, retry=RetryPolicy(retries=1, base_delay=0.01))
        with pytest.raises(ProviderUnavailableError) as caught:
            for chunk in provider.stream(USER, [], threading.Event()):
                notices.append(chunk)
    assert [n.reason for n in notices] == ["the connection was refused"]
    message = str(caught.value)
    assert f"at http://127.0.0.1:{port}/v1 refused the connection" in message
    assert "s3cret" not in message and "alice" not in message and "dropped" not in message


def test_the_missing_key_message_says_one_thing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(AuthenticationError) as caught:
        run(make())
    message = str(caught.value)
    assert "OPENAI_API_KEY" in message and "outside the notebook" in message
    assert "not in the notebook itself" not in message


def test_compat_server_never_gets_the_openai_key(server: ScriptedServer) -> None:
    server.push(text_reply("a"), text_reply("b"))
    run(resolve_provider("compat:qwen", base_url=server.url, retry=FAST))
    assert KEY not in server.requests[0].headers.get("authorization", "")


def test_compat_server_with_named_key_variable(server: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VLLM_KEY", "vllm-secret")
    server.push(text_reply("a"))
    run(resolve_provider("compat:qwen", base_url=server.url, api_key_env="VLLM_KEY", retry=FAST))
    assert server.requests[0].headers["authorization"] == "Bearer vllm-secret"
    monkeypatch.delenv("VLLM_KEY")
    with pytest.raises(AuthenticationError, match="VLLM_KEY"):
        run(resolve_provider("compat:qwen", base_url=server.url, api_key_env="VLLM_KEY", retry=FAST))


def test_openrouter_uses_its_own_key_variable(server: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(AuthenticationError, match="OPENROUTER_API_KEY"):
        run(resolve_provider("openrouter:openai/gpt-4o-mini", base_url=server.url, retry=FAST))
    monkeypatch.setenv("OPENROUTER_API_KEY", "or-secret")
    server.push({"steps": [{"text": "hi"}, {"finish": "stop"}, {"usage": {"input": 3, "output": 1}}]})
    chunks = run(resolve_provider("openrouter:openai/gpt-4o-mini", base_url=server.url, retry=FAST))
    assert texts(chunks) == "hi"
    assert server.requests[0].headers["authorization"] == "Bearer or-secret"


def test_sse_events_are_split_as_the_specification_says() -> None:
    lines = [": keep-alive", "event: message", "data: {\"a\":", "data:1}", "id: 7", "", "", "data: [DONE]", ""]
    assert list(sse_data(lines)) == ['{"a":\n1}', "[DONE]"]
    assert list(sse_data(["data: tail without blank line"])) == ["tail without blank line"]


def test_chunk_that_is_not_an_object_is_malformed(server: ScriptedServer) -> None:
    server.push({"steps": [{"raw": "data: 42\n\n"}]}, text_reply("ok"))
    chunks = run(make())
    assert [c.reason for c in chunks if isinstance(c, RetryNotice)] == ["a malformed reply"]


def test_steps_of_a_turn_send_the_whole_growing_history(server: ScriptedServer) -> None:
    """The encoded prefix is reused between steps; every request still carries all of it."""
    server.push(text_reply("one"), text_reply("two"))
    provider = make()
    base = [{"role": "user", "content": f"q{i}"} for i in range(50)]
    run(provider, base)
    step = [{"role": "assistant", "content": "one"}, {"role": "user", "content": "more \udcff"}]
    run(provider, base + step)
    first, second = server.requests
    assert first.body["messages"] == base
    assert second.body["messages"] == base + step
