"""Context compression into a new session, the old one left intact."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hermes_nb import config, models
from hermes_nb.agent.providers.base import Provider, TextDelta
from hermes_nb.compression import compress_session, estimate_tokens, needs_compression


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

    done = compress_session(old.session_id, provider, keep_turns=2)

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
