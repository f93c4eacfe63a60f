"""A model whose server refuses tools runs as plain chat, with one line saying so.

Ollama answers HTTP 400 "<model> does not support tools" to a request with tools for
such a model; the real scripted server answers the same to every request carrying
``tools``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from notebook_shell import Notebook
from sse_server import ScriptedServer, error_reply, text_reply

from hermes_nb.agent.events import Done, ErrorEvent, Event, Notice, Token
from hermes_nb.agent.loop import Agent
from hermes_nb.agent.providers import resolve_provider
from hermes_nb.agent.providers.base import StreamNotice, TextDelta
from hermes_nb.agent.providers.retry import RetryPolicy
from hermes_nb.agent.tools import ToolRegistry, builtin_tools
from hermes_nb.errors import ProviderError

REFUSAL = "registry.ollama.ai/library/gemma:2b does not support tools"
FAST = RetryPolicy(retries=2, base_delay=0.01)
TOOLS = [{"type": "function", "function": {"name": "add", "parameters": {"type": "object", "properties": {}}}}]
USER = [{"role": "user", "content": "hi"}]


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer(refuse_tools=REFUSAL) as srv:
        yield srv


def test_the_refused_request_is_sent_again_without_tools_and_remembered(server: ScriptedServer) -> None:
    provider = resolve_provider("ollama:gemma:2b", base_url=server.url, retry=FAST)
    server.push(text_reply("Hello", " there"), text_reply("Again"))
    chunks = list(provider.stream(USER, TOOLS, threading.Event()))
    assert "".join(c.text for c in chunks if isinstance(c, TextDelta)) == "Hello there"
    assert [c.text for c in chunks if isinstance(c, StreamNotice)] == [
        f"ollama:gemma:2b cannot call tools (Ollama said: {REFUSAL}); running as plain chat."
    ]
    assert [("tools" in r.body) for r in server.requests] == [True, False]
    assert provider.supports_tools is False
    # the next request goes out without tools at once, and says nothing more
    chunks = list(provider.stream(USER, TOOLS, threading.Event()))
    assert [type(c) for c in chunks if isinstance(c, StreamNotice)] == []
    assert [("tools" in r.body) for r in server.requests] == [True, False, False]


def test_a_run_with_tools_goes_on_as_plain_chat(server: ScriptedServer) -> None:
    provider = resolve_provider("ollama:gemma:2b", base_url=server.url, retry=FAST)
    tools = ToolRegistry(builtin_tools())
    server.push(text_reply("I can only chat."))
    events: list[Event] = []
    result = Agent(provider, tools).run([], "list the files", events.append, threading.Event())
    assert result.stop_reason == "complete" and result.text == "I can only chat."
    assert not [e for e in events if isinstance(e, ErrorEvent)]
    assert [e.text for e in events if isinstance(e, Notice)] == [
        f"ollama:gemma:2b cannot call tools (Ollama said: {REFUSAL}); running as plain chat."
    ]
    assert "".join(e.text for e in events if isinstance(e, Token)) == "I can only chat."
    assert isinstance(events[-1], Done)


def test_another_400_is_still_an_error() -> None:
    with ScriptedServer([error_reply(400, "messages: field required")]) as server:
        provider = resolve_provider("ollama:llama3.2", base_url=server.url, retry=FAST)
        with pytest.raises(ProviderError, match="field required"):
            list(provider.stream(USER, TOOLS, threading.Event()))
        assert provider.supports_tools is True
        assert len(server.requests) == 1


def test_in_a_notebook_the_line_is_shown_once_and_later_runs_are_plain_chat(nb: Notebook, server: ScriptedServer) -> None:
    nb.run('%config AgentMagics.display = "text"').ok()
    nb.run("%config AgentMagics.auto_title = False").ok()
    nb.run(f'%config AgentMagics.base_url = "{server.url}"').ok()
    nb.run('%config AgentMagics.model = "ollama:gemma:2b"').ok()
    server.push(text_reply("First answer."), text_reply("Second answer."))
    first = nb.run("%%agent\nlist my files").ok().out
    assert "First answer." in first and first.count("cannot call tools") == 1
    assert "Error" not in first and REFUSAL in first
    second = nb.run("%%agent\nand now?").ok().out
    assert "Second answer." in second and "cannot call tools" not in second
    assert [("tools" in r.body) for r in server.requests] == [True, False, False]
