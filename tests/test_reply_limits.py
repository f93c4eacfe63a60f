"""Every request names an output limit, and a reply that loops is stopped with one line.

Against the real scripted SSE server with the real SDKs: what the body carries, and
what a stream of newlines or of one repeated line turns into.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from notebook_shell import Notebook
from sse_server import ScriptedServer, text_reply, token_stream

from hermes_nb.agent.events import Done, Event, Notice, Token
from hermes_nb.agent.loop import Agent
from hermes_nb.agent.providers import resolve_provider
from hermes_nb.agent.providers.anthropic_provider import AnthropicProvider
from hermes_nb.agent.providers.base import StreamNotice, TextDelta
from hermes_nb.agent.providers.limits import DEFAULT_OUTPUT_TOKENS, default_output_limit
from hermes_nb.agent.providers.openai_compat import Endpoint, OpenAICompatProvider
from hermes_nb.agent.providers.retry import RetryPolicy
from hermes_nb.agent.providers.streamguard import BLANK_LIMIT, REPEAT_LIMIT

FAST = RetryPolicy(retries=0, base_delay=0.01)
USER = [{"role": "user", "content": "hi"}]


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as srv:
        yield srv


def compat(server: ScriptedServer, model: str = "qwen2.5-coder:1.5b") -> Any:
    return resolve_provider(f"ollama:{model}", base_url=server.url, retry=FAST)


def run(provider: Any) -> list[Any]:
    return list(provider.stream(USER, [], threading.Event()))


def test_an_openai_protocol_request_carries_the_default_limit(server: ScriptedServer) -> None:
    server.push(text_reply("ok"))
    run(compat(server))
    body = server.requests[0].body
    assert body["max_tokens"] == DEFAULT_OUTPUT_TOKENS
    assert "max_completion_tokens" not in body


def test_the_setting_wins_over_the_default(server: ScriptedServer) -> None:
    provider = compat(server, "llama3.2")
    provider.max_output_tokens = 300
    server.push(text_reply("ok"))
    run(provider)
    assert server.requests[0].body["max_tokens"] == 300


def test_openai_itself_gets_max_completion_tokens_and_other_servers_max_tokens(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    provider = resolve_provider("openai:gpt-5-mini", retry=FAST)
    assert provider._limit_field() == "max_completion_tokens"  # api.openai.com, never called here
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)  # the same provider pointed at a local server
    server.push(text_reply("ok"))
    run(provider)
    body = server.requests[0].body
    assert body["max_tokens"] == default_output_limit("gpt-5-mini") == 32_768
    assert "max_completion_tokens" not in body


def test_anthropic_requests_carry_the_model_default_or_the_setting(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    provider = AnthropicProvider("anthropic:claude-3-haiku-20240307", "claude-3-haiku-20240307", base_url=server.root_url, retry=FAST)
    server.push(text_reply("a"), text_reply("b"))
    run(provider)
    provider.max_output_tokens = 1234
    run(provider)
    assert [r.body["max_tokens"] for r in server.requests] == [4096, 1234]


def test_a_reply_cut_at_its_limit_says_so(server: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    server.push({"steps": [{"text": "def f():\n    return"}, {"finish": "length"}]})
    chunks = run(compat(server))
    notices = [c.text for c in chunks if isinstance(c, StreamNotice)]
    assert notices == [
        f"The reply was cut at a length limit ({DEFAULT_OUTPUT_TOKENS:,} tokens allowed, or the model's "
        "context was full); for longer replies raise %config AgentMagics.max_output_tokens."
    ]
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    anthropic = AnthropicProvider("anthropic:claude-sonnet-4-5", "claude-sonnet-4-5", base_url=server.root_url, retry=FAST)
    server.push({"steps": [{"text": "long"}, {"finish": "length"}]})
    assert [c.text for c in run(anthropic) if isinstance(c, StreamNotice)] == [
        notices[0].replace(f"{DEFAULT_OUTPUT_TOKENS:,}", "16,384")
    ]


def test_a_stream_of_newlines_is_stopped_with_one_line(server: ScriptedServer) -> None:
    server.push(token_stream(200_000, word="\n"))
    started = time.monotonic()
    chunks = run(compat(server))
    text = "".join(c.text for c in chunks if isinstance(c, TextDelta))
    assert set(text) == {"\n"} and len(text) == BLANK_LIMIT  # stopped at once, not 200,000 later
    assert [c.text for c in chunks if isinstance(c, StreamNotice)] == [
        f"The reply was stopped: the model wrote nothing but blank space for {BLANK_LIMIT:,} characters."
    ]
    assert time.monotonic() - started < 30


def test_one_line_repeated_is_stopped_after_the_limit(server: ScriptedServer) -> None:
    server.push({"steps": [{"text": "Here is the plan:\n"}, {"tokens": 100_000, "word": "print('hello')\n\n"}, {"finish": "stop"}]})
    chunks = run(compat(server))
    text = "".join(c.text for c in chunks if isinstance(c, TextDelta))
    assert text.count("print('hello')") == REPEAT_LIMIT
    assert [c.text for c in chunks if isinstance(c, StreamNotice)] == [
        f"The reply was stopped: the model wrote the same line {REPEAT_LIMIT} times in a row (\"print('hello')\")."
    ]


def test_varied_text_with_blank_lines_and_repeats_below_the_limit_is_untouched(server: ScriptedServer) -> None:
    rows = "".join(f"| {i} | x |\n" for i in range(300)) + "\n" * 500 + "---\n" * 10 + "done"
    server.push({"steps": [{"text": rows[i : i + 7]} for i in range(0, len(rows), 7)] + [{"finish": "stop"}]})
    chunks = run(compat(server))
    assert "".join(c.text for c in chunks if isinstance(c, TextDelta)) == rows
    assert not [c for c in chunks if isinstance(c, StreamNotice)]


def test_the_run_shows_the_line_and_ends_normally(server: ScriptedServer) -> None:
    provider = OpenAICompatProvider("compat:m", "m", Endpoint("Test", server.url, key_required=False), retry=FAST)
    server.push(token_stream(100_000, word=" \n"))
    events: list[Event] = []
    result = Agent(provider).run([], "hello", events.append, threading.Event())
    notices = [e.text for e in events if isinstance(e, Notice)]
    assert notices == [f"The reply was stopped: the model wrote nothing but blank space for {BLANK_LIMIT:,} characters."]
    assert result.stop_reason == "complete" and isinstance(events[-1], Done)
    assert sum(len(e.text) for e in events if isinstance(e, Token)) == BLANK_LIMIT


def test_in_a_notebook_the_cell_shows_the_line_and_the_setting_reaches_the_request(
    nb: Notebook, server: ScriptedServer
) -> None:
    nb.run('%config AgentMagics.display = "text"').ok()
    nb.run("%config AgentMagics.auto_title = False").ok()
    nb.run(f'%config AgentMagics.base_url = "{server.url}"').ok()
    nb.run('%config AgentMagics.model = "compat:local-model"').ok()
    nb.run("%config AgentMagics.max_output_tokens = 2000").ok()
    server.push({"steps": [{"text": "Sure:\n"}, {"tokens": 50_000, "word": "\n"}, {"finish": "stop"}]})
    out = nb.run("%%agent\nwrite something").ok().out
    assert out.count("The reply was stopped: the model wrote nothing but blank space") == 1
    assert server.requests[0].body["max_tokens"] == 2000
