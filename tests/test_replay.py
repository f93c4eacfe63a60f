"""The replay provider: scripts, recorded sessions, cancel, and what it was sent."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from hermes_nb.agent.events import Event, ToolCompleted
from hermes_nb.agent.loop import Agent
from hermes_nb.agent.providers.base import (
    Chunk,
    ReasoningDelta,
    RetryNotice,
    TextDelta,
    ToolCallRequest,
    UsageChunk,
)
from hermes_nb.agent.providers.replay import ReplayProvider
from hermes_nb.agent.tools import builtin_tools
from hermes_nb.errors import ProviderError


def _stream(provider: ReplayProvider, messages: list[dict[str, Any]]) -> list[Chunk]:
    return list(provider.stream(messages, [], threading.Event()))


USER = [{"role": "user", "content": "hello there"}]


def test_text_is_streamed_word_by_word_exactly() -> None:
    text = "  Two  spaces,\nnew line and a trailing space "
    chunks = _stream(ReplayProvider(script={"replies": [{"text": text}]}), USER)
    deltas = [c.text for c in chunks if isinstance(c, TextDelta)]
    assert "".join(deltas) == text and len(deltas) > 5
    assert isinstance(chunks[-1], UsageChunk)


def test_chunks_reasoning_retry_tool_calls_and_usage() -> None:
    reply = {
        "reasoning": "think",
        "chunks": ["a", {"retry": "429", "attempt": 2, "wait": 0.5}, "b", {"reasoning": "more"}],
        "tool_calls": [
            {"name": "f", "arguments": {"x": 1}},
            {"name": "g", "arguments": "{bad json", "id": "given"},
        ],
        "usage": {"input_tokens": 10, "output_tokens": 4, "cost": 0.01},
    }
    chunks = _stream(ReplayProvider(script={"replies": [reply]}), USER)
    assert chunks == [
        ReasoningDelta("think"),
        TextDelta("a"),
        RetryNotice(2, 0.5, "429"),
        TextDelta("b"),
        ReasoningDelta("more"),
        ToolCallRequest("call_1_1", "f", '{"x": 1}'),
        ToolCallRequest("given", "g", "{bad json"),
        UsageChunk(10, 4, 0.01),
    ]


def test_usage_is_estimated_when_the_script_has_none() -> None:
    chunks = _stream(ReplayProvider(script=["12345678 abcd"]), USER)
    assert chunks[-1] == UsageChunk(len("hello there") // 4, len("12345678 abcd") // 4, None)


def test_reply_is_chosen_by_the_assistant_messages_already_sent() -> None:
    script = {"replies": ["first", "second"]}
    assert "".join(c.text for c in _stream(ReplayProvider(script=script), USER) if isinstance(c, TextDelta)) == "first"
    later = [*USER, {"role": "assistant", "content": "first"}, {"role": "user", "content": "more"}]
    fresh = ReplayProvider(script=script)  # a new instance (a new cell) continues the script
    assert "".join(c.text for c in _stream(fresh, later) if isinstance(c, TextDelta)) == "second"
    assert fresh.requests == [later]
    again = [*later, {"role": "assistant", "content": "second"}, {"role": "user", "content": "?"}]
    with pytest.raises(ProviderError, match="no reply left.*it has 2; this is reply 3"):
        fresh.stream(again, [], threading.Event())


def test_error_reply_raises_after_its_chunks() -> None:
    provider = ReplayProvider(script={"replies": [{"chunks": ["x"], "error": "boom"}]})
    got: list[Chunk] = []
    with pytest.raises(ProviderError, match="boom"):
        for chunk in provider.stream(USER, [], threading.Event()):
            got.append(chunk)
    assert got == [TextDelta("x")]


def test_cancel_during_a_delay_returns_promptly() -> None:
    provider = ReplayProvider(script={"replies": [{"chunks": ["a", "b"], "delay": 30}]})
    cancel = threading.Event()
    threading.Timer(0.1, cancel.set).start()
    start = time.monotonic()
    assert list(provider.stream(USER, [], cancel)) == []
    assert time.monotonic() - start < 3


def test_script_file_and_bad_scripts(tmp_path: Path) -> None:
    path = tmp_path / "script.json"
    path.write_text(json.dumps({"replies": ["from a file"], "title": "A title"}))
    provider = ReplayProvider(path)
    assert provider.spec == f"replay:{path}"
    assert provider.complete(USER) == "A title"  # titles never use up replies
    assert len(provider.replies) == 1 and provider.requests == []
    with pytest.raises(ProviderError, match="not found"):
        ReplayProvider(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ProviderError, match="cannot read replay script"):
        ReplayProvider(tmp_path / "bad.json")
    with pytest.raises(ProviderError, match="'replies' or 'messages'"):
        ReplayProvider(script={"nothing": 1})
    with pytest.raises(ProviderError, match="reply 2 must be"):
        ReplayProvider(script={"replies": ["ok", 3]})
    assert ReplayProvider(script=["x"]).complete([{"role": "user", "content": "one two three four five six seven"}]) == (
        "one two three four five six"
    )


def test_recorded_session_replays_through_the_agent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data.txt").write_text("42\n")
    session = {
        "session_id": "abc",
        "title": "Recorded",
        "messages": [
            {"role": "user", "content": "What is in data.txt?"},
            {
                "role": "assistant",
                "content": "Reading it.",
                "tool_calls": [
                    {"id": "t1", "type": "function", "function": {"name": "read_file", "arguments": '{"path": "data.txt"}'}}
                ],
            },
            {"role": "tool", "tool_call_id": "t1", "content": "41\n"},
            {"role": "assistant", "content": "It holds the number 42."},
        ],
    }
    path = tmp_path / "session.json"
    path.write_text(json.dumps(session))
    provider = ReplayProvider(path)
    events: list[Event] = []
    result = Agent(provider, builtin_tools()).run([], "What is in data.txt?", events.append, threading.Event())
    assert result.stop_reason == "complete" and result.text == "It holds the number 42."
    completed = [e for e in events if isinstance(e, ToolCompleted)]
    assert [(c.call_id, c.result) for c in completed] == [("t1", "42\n")]  # the tool really ran
    assert provider.requests[1][-1] == {"role": "tool", "tool_call_id": "t1", "content": "42\n"}
    assert provider.complete(USER) == "Recorded"


def test_same_script_same_output_every_time() -> None:
    script = {"replies": [{"text": "a b", "tool_calls": [{"name": "list_files", "arguments": {}}]}, "c d"]}

    def play() -> list[Any]:
        events: list[Event] = []
        Agent(ReplayProvider(script=script), builtin_tools()).run([], "go", events.append, threading.Event())
        return [(e.kind, getattr(e, "text", None), getattr(e, "call_id", None)) for e in events]

    assert play() == play()
