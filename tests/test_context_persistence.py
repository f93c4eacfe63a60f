"""Context and images are part of the session: saved with the turn, restored after a
crash, and sent again by a later request (after a restart, from disk)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from dead_run import leave_dead_run
from turn_harness import Recorder, chart_agent, on_disk, png

from hermes_nb import config, models, streaming
from hermes_nb.agent.loop import Agent
from hermes_nb.agent.providers.replay import ReplayProvider
from hermes_nb.context import build_context
from hermes_nb.kernel.cell_loop import drive

CONTEXT = build_context("look at @df", {"df": [1, 2, 3]})


def test_a_turn_saves_its_context_and_image_and_a_later_request_sends_both_again(session_dir: Path) -> None:
    sid = models.new_session(title="t", notebook="nb.ipynb").session_id
    script = {"vision": True, "replies": [{"tool_calls": [{"name": "chart", "arguments": {}}]}, "Blue.", "Still blue."]}
    run = streaming.Run(sid, "look at @df", attachments=CONTEXT, checkpoint_interval=0.2)
    outcome = drive(run, chart_agent(ReplayProvider(script=script), sid), Recorder(), flush_interval=0.01)
    assert outcome.stop_reason == "complete"

    saved = on_disk(sid)
    user, tool = saved["messages"][0], saved["messages"][2]
    assert user["content"] == "look at @df" and user["context"] == CONTEXT
    [ref] = tool["images"]
    assert (models.SESSION_DIR / ref["path"]).read_bytes() == png()

    models.SESSIONS.clear()  # as after a kernel restart: everything comes from disk
    later = ReplayProvider(script=script)
    run = streaming.Run(sid, "and now?", checkpoint_interval=0.2)
    drive(run, chart_agent(later, sid), Recorder(), flush_interval=0.01)
    sent = later.requests[0]
    assert "@df: list of 3 items = [1, 2, 3]" in sent[0]["content"]
    [carrier] = [m for m in sent if m["role"] == "user" and isinstance(m["content"], list)]
    url = carrier["content"][1]["image_url"]["url"]
    assert base64.b64decode(url.split(",", 1)[1]) == png()


def test_a_run_restored_after_a_crash_keeps_the_context_of_its_request(session_dir: Path) -> None:
    sid = models.new_session(title="Analysis", notebook="nb.ipynb").session_id
    leave_dead_run(sid)
    with config._get_session_agent_lock(sid):
        session = models.get_session(sid)
        session.pending_attachments = CONTEXT
        session.save()
    models.SESSIONS.clear()
    streaming.restore_interrupted("nb.ipynb")
    user = on_disk(sid)["messages"][0]
    assert user["recovered"] and user["context"] == CONTEXT

    provider = ReplayProvider(script={"replies": ["Done."]})
    drive(streaming.Run(sid, None), Agent(provider), Recorder(), flush_interval=0.01)
    first: dict[str, Any] = provider.requests[0][0]
    assert first["content"].startswith("analyse the data\n\n[Variables the user referred to with @name")
