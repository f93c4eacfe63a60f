"""Stalled streams and streams of nothing end in seconds, with one clear error, unretried."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from notebook_shell import Notebook
from sse_server import ScriptedServer, empty_delta_reply, keepalive_reply, stall_reply, text_reply

from hermes_nb.agent.providers.anthropic_provider import AnthropicProvider
from hermes_nb.agent.providers.base import TextDelta
from hermes_nb.agent.providers.openai_compat import Endpoint, OpenAICompatProvider
from hermes_nb.agent.providers.retry import RetryPolicy
from hermes_nb.agent.providers.streamguard import StreamIdleTimeout
from hermes_nb.errors import ProviderUnavailableError

KEY = "sk-test-secret-0123456789"
FAST = RetryPolicy(retries=3, base_delay=0.01)
USER = [{"role": "user", "content": "hi"}]


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedServer]:
    with ScriptedServer() as srv:
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
        monkeypatch.setenv("OPENAI_BASE_URL", srv.url)
        # the first request of a process imports most of the SDK (seconds on a busy
        # machine), which would count against the short timeouts used here
        srv.push(text_reply("warm"))
        consume(make(idle=120), [])
        yield srv


def sent(server: ScriptedServer) -> int:
    """Requests after the warm-up."""
    return len(server.requests) - 1


def make(idle: float = 1.0, read: float = 60.0) -> OpenAICompatProvider:
    """A provider whose connection pool is built (a second or more on a busy machine,
    which would count against the short timeouts used here)."""
    endpoint = Endpoint("OpenAI", None, "OPENAI_BASE_URL")
    provider = OpenAICompatProvider("openai:m", "m", endpoint, retry=FAST, read_timeout=read, idle_timeout=idle)
    provider.prepare()
    return provider


def consume(provider: Any, chunks: list[Any]) -> float:
    """Stream into ``chunks``; return how long it took."""
    started = time.monotonic()
    for chunk in provider.stream(USER, [], threading.Event()):
        chunks.append(chunk)
    return time.monotonic() - started


@pytest.mark.parametrize(
    "reply",
    [keepalive_reply(60), empty_delta_reply(60), stall_reply(60, before="Thinking"), {"stall_before_headers": 60}],
    ids=["keep-alives", "empty deltas", "silence mid-stream", "no headers"],
)
def test_a_reply_without_content_stops_at_the_idle_timeout(server: ScriptedServer, reply: dict[str, Any]) -> None:
    server.push(reply)
    chunks: list[Any] = []
    started = time.monotonic()
    with pytest.raises(StreamIdleTimeout, match=r"no reply content for 1 s.*stream_idle_timeout"):
        consume(make(idle=1.0), chunks)
    assert time.monotonic() - started < 10
    assert sent(server) == 1  # not retried


def test_content_that_keeps_coming_is_not_cut(server: ScriptedServer) -> None:
    steps: list[dict[str, Any]] = []
    for i in range(8):
        steps += [{"text": f"{i} "}, {"sleep": 0.3}]
    server.push({"steps": [*steps, {"finish": "stop"}]})
    chunks: list[Any] = []
    took = consume(make(idle=1.0), chunks)
    assert "".join(c.text for c in chunks if isinstance(c, TextDelta)) == "0 1 2 3 4 5 6 7 "
    assert took > 2.0  # longer than the idle timeout in all


def test_a_silent_server_fails_at_the_request_timeout_without_retries(server: ScriptedServer) -> None:
    server.push(stall_reply(60, before="Thinking"))
    started = time.monotonic()
    with pytest.raises(ProviderUnavailableError, match=r"sent nothing for 0.5 s.*request_timeout"):
        consume(make(idle=60, read=0.5), [])
    assert time.monotonic() - started < 10
    assert sent(server) == 1


def test_anthropic_keep_alives_stop_at_the_idle_timeout(server: ScriptedServer) -> None:
    provider = AnthropicProvider("anthropic:claude-sonnet-4-6", "claude-sonnet-4-6", base_url=server.root_url, retry=FAST)
    server.push(text_reply("warm"), keepalive_reply(60, before="Hmm"))
    consume(provider, [])  # the SDK's first request imports it
    provider.idle_timeout = 1.0
    chunks: list[Any] = []
    with pytest.raises(StreamIdleTimeout):
        consume(provider, chunks)
    assert "".join(c.text for c in chunks if isinstance(c, TextDelta)) == "Hmm"
    assert sent(server) == 2  # the warm-up and this one, not retried


def test_the_settings_reach_the_provider_and_the_cell_says_what_happened(nb: Notebook, server: ScriptedServer) -> None:
    server.push(keepalive_reply(60), text_reply("Fine now."))
    nb.run('%config AgentMagics.model = "openai:test-timeouts"').ok()
    nb.run("%config AgentMagics.stream_idle_timeout = 1").ok()
    nb.run("%config AgentMagics.request_timeout = 30").ok()
    nb.run("%config AgentMagics.auto_title = False").ok()
    started = time.monotonic()
    cell = nb.run("%%agent\nHello?")
    assert time.monotonic() - started < 15
    assert "stream_idle_timeout" in cell.out + cell.err
    saved = nb.on_disk()
    assert saved["messages"][0]["content"] == "Hello?"
    assert saved["messages"][-1]["kind"] == "error" and "no reply content" in saved["messages"][-1]["content"]
    assert "Fine now." in nb.run("%%agent\nAgain?").ok().out
