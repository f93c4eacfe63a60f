"""Context compression into a new session, the old one left intact."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hermes_nb import config, models
from hermes_nb.agent.providers.base import Provider, TextDelta
from hermes_nb.errors import ProviderError
from hermes_nb.kernel.compression import (
    CompressionFailed,
    compress_session,
    estimate_tokens,
    needs_compression,
)


class Summariser(Provider):
    spec = "test:summary"
    context_window = 1_000

    def __init__(self) -> None:
        self.prompts: list[str] = []

    def stream(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], cancel: threading.Event) -> Iterator[Any]:
        self.prompts.append(messages[-1]["content"])
        yield TextDelta("- the user loaded sales.csv\n- March had the highest revenue")


def long_session() -> models.Session:
    session = models.new_session(title="Sales", notebook="nb.ipynb", model="test:summary")
    for i in range(6):
        session.messages += [
            {"role": "user", "content": f"question {i} " + "x" * 400},
            {"role": "assistant", "content": f"answer {i} " + "y" * 400},
        ]
    session.save()
    return session


def test_needs_compression_follows_the_context_window() -> None:
    messages = [{"role": "user", "content": "a" * 4000}]
    assert estimate_tokens(messages) >= 1000
    assert needs_compression(messages, context_window=1000)
    assert not needs_compression(messages, context_window=100_000)


def test_older_turns_become_a_summary_in_a_new_session(session_dir: Path) -> None:
    old = long_session()
    old_bytes = old.path.read_bytes()
    old_lock = config._get_session_agent_lock(old.session_id)
    provider = Summariser()

    done = compress_session(old.session_id, provider, keep_turns=2, context_window=10_000)

    assert done is not None and done.old_id == old.session_id
    new = models.get_session(done.new_id)
    assert new.parent_session_id == old.session_id and new.title == "Sales"
    assert "March had the highest revenue" in new.messages[0]["content"]
    assert [m["content"][:10] for m in new.messages if m["role"] == "user"][1:] == ["question 4", "question 5"]
    assert "question 0" in provider.prompts[0] and "question 5" not in provider.prompts[0]
    assert old.path.read_bytes() == old_bytes  # the old file is never rewritten
    assert config._get_session_agent_lock(new.session_id) is old_lock
    assert config._get_session_agent_lock(old.session_id) is old_lock
    assert models.SESSIONS.get(old.session_id) is None
    assert models.Session.load(old.session_id).messages == old.messages  # type: ignore[union-attr]
    assert done.summarised == 8 and done.kept == 4 and new.session_id in done.notice()


def test_a_short_history_is_not_compressed(session_dir: Path) -> None:
    session = models.new_session(title="short")
    session.messages += [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    session.save()
    assert compress_session(session.session_id, Summariser(), keep_turns=2) is None


class WindowedModel(Provider):
    """A model that, like a real server, refuses a request longer than its window.

    It counts three characters a token (stricter than the estimate of four) and
    records the size of every summary request.
    """

    spec = "test:windowed"

    def __init__(self, window: int) -> None:
        self.context_window = window
        self.sizes: list[int] = []

    def stream(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], cancel: threading.Event) -> Iterator[Any]:
        tokens = sum(len(str(m.get("content") or "")) for m in messages) // 3
        self.sizes.append(tokens)
        if tokens > self.context_window:
            raise ProviderError(f"This model's maximum context length is {self.context_window} tokens; the request has {tokens}.")
        yield TextDelta(f"- part {len(self.sizes)}: the user asked questions and got answers")


def test_a_history_many_times_the_window_is_summarised_in_requests_that_fit(session_dir: Path) -> None:
    session = models.new_session(title="Long", notebook="nb.ipynb")
    for i in range(40):
        session.messages += [
            {"role": "user", "content": f"question {i} " + "x" * 700},
            {"role": "assistant", "content": f"answer {i} " + "y" * 700},
        ]
    session.save()
    model = WindowedModel(window=1_000)  # the history is ~14,000 tokens

    done = compress_session(session.session_id, model, keep_turns=2)

    assert done is not None
    assert len(model.sizes) > 2 and max(model.sizes) <= model.context_window
    summary = models.get_session(done.new_id).messages[0]["content"]
    assert "the user asked questions" in summary
    assert estimate_tokens(models.get_session(done.new_id).messages) < model.context_window


def test_one_huge_message_is_cut_to_fit_a_summary_request(session_dir: Path) -> None:
    session = models.new_session(title="Huge", notebook="nb.ipynb")
    session.messages += [
        {"role": "user", "content": "load it"},
        {"role": "tool", "tool_call_id": "c1", "content": "z" * 50_000},
        {"role": "assistant", "content": "loaded"},
        {"role": "user", "content": "next"},
        {"role": "assistant", "content": "ok"},
    ]
    session.save()
    model = WindowedModel(window=500)
    assert compress_session(session.session_id, model, keep_turns=1) is not None
    assert max(model.sizes) <= 500


def test_a_summary_that_fails_raises_compression_failed_and_keeps_the_session(session_dir: Path) -> None:
    old = long_session()
    before = old.path.read_bytes()

    class Broken(Summariser):
        def stream(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], cancel: threading.Event) -> Iterator[Any]:
            raise ProviderError("the server is down")
            yield  # pragma: no cover

    with pytest.raises(CompressionFailed, match="the server is down"):
        compress_session(old.session_id, Broken(), context_window=10_000)
    assert old.path.read_bytes() == before
    assert [p.name for p in session_dir.glob("*.json") if p.name != "_index.json"] == [old.path.name]
