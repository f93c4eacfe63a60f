"""Compression during ``%%agent``: the request is saved first, whatever the summary does."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from notebook_shell import NOTEBOOK, Notebook, roles

from hermes_nb import config, models
from hermes_nb.agent.providers.replay import ReplayProvider
from hermes_nb.errors import ProviderError


def long_history(nb: Notebook, turns: int = 12) -> str:
    session = models.new_session(title="Long", notebook=NOTEBOOK)
    for i in range(turns):
        session.messages += [
            {"role": "user", "content": f"question {i} " + "x" * 600},
            {"role": "assistant", "content": f"answer {i} " + "y" * 600},
        ]
    session.save()
    nb.run(f"%agent use {session.session_id}").ok()
    nb.use_script(*["The answer."] * 40)
    nb.run("%config AgentMagics.context_window = 1000").ok()
    nb.run("%config AgentMagics.auto_title = False").ok()
    return session.session_id


def test_a_failed_summary_keeps_the_request_and_the_run_goes_on(
    nb: Notebook, monkeypatch: pytest.MonkeyPatch
) -> None:
    sid = long_history(nb)

    def refuse(self: ReplayProvider, messages: list[dict[str, Any]], cancel: threading.Event | None = None) -> str:
        raise ProviderError("This model's maximum context length is 1000 tokens")

    monkeypatch.setattr(ReplayProvider, "complete", refuse)
    cell = nb.run("%%agent\nAnd now the total?").ok()

    assert "could not summarise the older turns" in cell.out  # in the transcript
    assert "maximum context length" in cell.out
    assert nb.current == sid
    saved = nb.on_disk(sid)
    assert saved["messages"][-2:] == [
        {**saved["messages"][-2], "role": "user", "content": "And now the total?"},
        {**saved["messages"][-1], "role": "assistant", "content": "The answer."},
    ]
    assert saved["active_stream_id"] is None
    assert len(nb.session_files()) == 1


def test_a_summary_moves_the_saved_request_into_the_new_session(
    nb: Notebook, monkeypatch: pytest.MonkeyPatch
) -> None:
    sid = long_history(nb)
    old_messages = nb.on_disk(sid)["messages"]
    seen: list[dict[str, Any]] = []

    def summary(self: ReplayProvider, messages: list[dict[str, Any]], cancel: threading.Event | None = None) -> str:
        # the request is on disk, pending, before the model is asked anything
        seen.append(nb.on_disk(sid))
        return "- twelve questions were answered"

    monkeypatch.setattr(ReplayProvider, "complete", summary)
    cell = nb.run("%%agent\nAnd now the total?").ok()

    assert seen and all(s["pending_user_message"] == "And now the total?" for s in seen)
    assert "summarised into session" in cell.out
    new_id = nb.current
    assert new_id != sid
    new = nb.on_disk(new_id)
    assert new["parent_session_id"] == sid and new["active_stream_id"] is None
    assert "twelve questions" in new["messages"][0]["content"]
    assert [m["content"] for m in new["messages"][-2:]] == ["And now the total?", "The answer."]
    old = nb.on_disk(sid)
    assert old["messages"] == old_messages and old["active_stream_id"] is None
    assert old["pending_user_message"] is None
    claim = config.run_lock(sid)  # the old session's run lock was let go
    claim.acquire(timeout=0)
    claim.release()
    # the old session's run is over: a new run can be started in it
    nb.run(f"%agent use {sid}").ok()
    assert roles(nb.on_disk(sid)["messages"])[-1] == "assistant"


def test_the_stop_button_during_the_summary_cancels_with_the_request_kept(
    nb: Notebook, monkeypatch: pytest.MonkeyPatch
) -> None:
    sid = long_history(nb)

    def interrupted(self: ReplayProvider, messages: list[dict[str, Any]], cancel: threading.Event | None = None) -> str:
        raise KeyboardInterrupt

    monkeypatch.setattr(ReplayProvider, "complete", interrupted)
    nb.run("%%agent\nAnd now the total?")
    saved = nb.on_disk(sid)
    assert saved["active_stream_id"] is None
    assert saved["messages"][-2]["content"] == "And now the total?"
    assert (saved["messages"][-1]["role"], saved["messages"][-1]["kind"]) == ("marker", "cancelled")


def test_a_small_window_stated_by_the_server_bounds_every_request(nb: Notebook) -> None:
    from sse_server import ScriptedServer, text_reply

    session = models.new_session(title="Long", notebook=NOTEBOOK)
    for i in range(20):
        session.messages += [
            {"role": "user", "content": f"question {i} " + "x" * 600},
            {"role": "assistant", "content": f"answer {i} " + "y" * 600},
        ]
    session.save()
    listing = [{"id": "small-model", "object": "model", "max_model_len": 1000}]
    with ScriptedServer([text_reply("- noted")], loop=True, models=listing) as server:
        nb.run(f"%agent use {session.session_id}").ok()
        nb.run(f'%config AgentMagics.base_url = "{server.url}"').ok()
        nb.run('%config AgentMagics.model = "compat:small-model"').ok()
        nb.run("%config AgentMagics.auto_title = False").ok()
        cell = nb.run("%%agent\nAnd now?").ok()
        sizes = [sum(len(str(m.get("content") or "")) for m in r.body["messages"]) for r in server.requests]
    assert "summarised into session" in cell.out
    assert len(sizes) > 3  # the summary in pieces, then the request itself
    assert max(sizes) // 3 < 1000  # three characters a token: stricter than the estimate
    assert nb.current != session.session_id
    assert [m["content"] for m in nb.on_disk()["messages"][-2:]] == ["And now?", "- noted"]
