"""Prompt caching: Anthropic requests mark the settled history and the tools, and the
cached input tokens either protocol reports reach the status line and the cost.

The scripted server (``cache=True``) reports usage as a caching provider would, from
what earlier requests sent (``tests/cache_sim.py``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from notebook_shell import Notebook
from sse_server import ScriptedServer, text_reply, tool_reply

from hermes_nb.agent.events import Event, Usage
from hermes_nb.agent.loop import Agent, TurnResult
from hermes_nb.agent.providers.anthropic_provider import AnthropicProvider
from hermes_nb.agent.providers.base import UsageChunk
from hermes_nb.agent.providers.openai_compat import Endpoint, OpenAICompatProvider
from hermes_nb.agent.providers.pricing import estimate_cost
from hermes_nb.agent.providers.retry import RetryPolicy
from hermes_nb.agent.tools import ToolRegistry
from hermes_nb.ui.fragments import status_text
from hermes_nb.ui.state import TurnDisplay

FAST = RetryPolicy(retries=0)
#: a settled history long enough to be cached (the APIs cache prefixes of 1,024+ tokens)
HISTORY = [
    m
    for i in range(20)
    for m in (
        {"role": "user", "content": f"Question {i}: " + "tell me about the data " * 40},
        {"role": "assistant", "content": f"Answer {i}: " + "the data has columns " * 40},
    )
]


def lookup(key: str) -> str:
    """Look a key up."""
    return f"value of {key}"


def tools() -> ToolRegistry:
    registry = ToolRegistry()
    registry.register(lookup, policy="allow")
    return registry


def three_steps() -> list[dict[str, Any]]:
    return [
        tool_reply([("call_1", "lookup", {"key": "a"})]),
        tool_reply([("call_2", "lookup", {"key": "b"})]),
        text_reply("Both looked up."),
    ]


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedServer]:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    with ScriptedServer(cache=True) as srv:
        yield srv


def claude(server: ScriptedServer, cache: bool = True) -> AnthropicProvider:
    provider = AnthropicProvider("anthropic:claude-sonnet-4-5", "claude-sonnet-4-5", base_url=server.root_url, retry=FAST)
    provider.prompt_cache = cache
    return provider


def play(provider: Any, system: str | None = "Be brief.") -> tuple[TurnResult, list[Event]]:
    events: list[Event] = []
    result = Agent(provider, tools(), system_prompt=system).run(HISTORY, "Look up a and b.", events.append, threading.Event())
    return result, events


def marked(body: dict[str, Any]) -> list[str]:
    """Where the request's cache breakpoints are: "tool:NAME", "system", "message:INDEX"."""
    where = [f"tool:{t['name']}" for t in body.get("tools", []) if "cache_control" in t]
    if isinstance(body.get("system"), list):
        where += ["system" for b in body["system"] if "cache_control" in b]
    for index, message in enumerate(body["messages"]):
        content = message["content"]
        assert all("cache_control" not in b for b in content[:-1])  # only a message's last block
        if "cache_control" in content[-1]:
            where.append(f"message:{index}")
    return where


def test_each_step_marks_the_system_the_previous_request_and_this_one(server: ScriptedServer) -> None:
    server.push(*three_steps())
    result, _ = play(claude(server))
    assert result.stop_reason == "complete"
    bodies = [r.body for r in server.requests]
    last = [len(b["messages"]) - 1 for b in bodies]
    assert last == [40, 42, 44]  # history (40) + the question, then + a call and its result per step
    assert marked(bodies[0]) == ["system", "message:38", "message:40"]
    assert marked(bodies[1]) == ["system", "message:40", "message:42"]
    assert marked(bodies[2]) == ["system", "message:42", "message:44"]
    assert all(len(marked(b)) <= 4 for b in bodies)
    assert bodies[0]["system"][0]["text"] == "Be brief."


def test_without_a_system_prompt_the_last_tool_is_marked(server: ScriptedServer) -> None:
    server.push(text_reply("ok"))
    play(claude(server), system=None)
    assert marked(server.requests[0].body)[0] == "tool:lookup"


def test_each_step_reads_the_history_from_the_cache_and_pays_less(server: ScriptedServer) -> None:
    server.push(*three_steps())
    result, events = play(claude(server))
    usage = [e for e in events if isinstance(e, Usage)]
    assert usage[0].cached_tokens == 0 and all(u.cached_tokens > 1024 for u in usage[1:])
    assert result.cached_tokens == sum(u.cached_tokens for u in usage)
    with ScriptedServer(three_steps(), cache=True) as plain_server:
        plain, plain_events = play(claude(plain_server, cache=False))
    assert all("cache_control" not in json.dumps(r.body) for r in plain_server.requests)
    assert plain.cached_tokens == 0 and plain.input_tokens == result.input_tokens
    assert result.cost is not None and plain.cost is not None and result.cost < plain.cost
    shown = status_text(TurnDisplay("anthropic:claude-sonnet-4-5").apply_all(events).status())
    assert f"{result.input_tokens:,} in ({result.cached_tokens:,} cached) / {result.output_tokens:,} out" in shown
    shown = status_text(TurnDisplay("anthropic:claude-sonnet-4-5").apply_all(plain_events).status())
    assert f"{plain.input_tokens:,} in / " in shown and "cached" not in shown


def test_openai_protocol_cached_tokens_are_shown_and_priced(server: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    provider = OpenAICompatProvider("openai:gpt-4.1-mini", "gpt-4.1-mini", Endpoint("OpenAI", server.url), retry=FAST)
    server.push(*three_steps())
    chunks: list[UsageChunk] = []
    events: list[Event] = []
    original = provider.stream

    def stream(*args: Any) -> Iterator[Any]:
        for chunk in original(*args):
            if isinstance(chunk, UsageChunk):
                chunks.append(chunk)
            yield chunk

    provider.stream = stream  # type: ignore[method-assign]
    Agent(provider, tools()).run(HISTORY, "Look up a and b.", events.append, threading.Event())
    assert chunks[0].cache_read_tokens == 0 and chunks[1].cache_read_tokens >= 1024
    for chunk in chunks:
        plain = chunk.input_tokens - chunk.cache_read_tokens
        expected = (plain * 0.40 + chunk.cache_read_tokens * 0.10 + chunk.output_tokens * 1.60) / 1e6
        assert chunk.cost == pytest.approx(expected)
    shown = status_text(TurnDisplay("openai:gpt-4.1-mini").apply_all(events).status())
    cached = sum(c.cache_read_tokens for c in chunks)
    assert f"({cached:,} cached)" in shown


def test_cache_prices() -> None:
    assert estimate_cost("claude-sonnet-4-5", 1_000_000, 0, cache_read=1_000_000) == pytest.approx(0.30)
    assert estimate_cost("claude-sonnet-4-5", 1_000_000, 0, cache_write=1_000_000) == pytest.approx(3.75)
    assert estimate_cost("gpt-4o", 1_000_000, 0, cache_read=500_000) == pytest.approx(1.25 + 0.625)
    assert estimate_cost("gpt-4o", 1_000, 10) == pytest.approx((1_000 * 2.5 + 10 * 10) / 1e6)


def test_in_a_notebook_the_status_line_shows_the_cached_tokens(nb: Notebook, server: ScriptedServer) -> None:
    nb.run('%config AgentMagics.display = "text"').ok()
    nb.run("%config AgentMagics.auto_title = False").ok()
    nb.run(f'%config AgentMagics.base_url = "{server.root_url}"').ok()
    nb.run('%config AgentMagics.model = "anthropic:claude-sonnet-4-5"').ok()
    server.push(tool_reply([("call_1", "python", {"code": "x = 1"})]), text_reply("Done."))
    out = nb.run("%%agent\n" + "Here is my long brief. " * 400).ok().out
    assert "Done." in out
    assert all("cache_control" in json.dumps(r.body) for r in server.requests)
    status = [line for line in out.splitlines() if "claude-sonnet-4-5" in line and " in " in line][-1]
    assert " cached) / " in status
