"""Lone surrogates reach a session the ways they really do, and every turn is saved."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sse_server import ScriptedServer, text_reply
from turn_harness import StepProvider, call, on_disk, run_turn, say

from hermes_nb import models
from hermes_nb.agent.providers.openai_compat import Endpoint, OpenAICompatProvider
from hermes_nb.agent.providers.retry import RetryPolicy
from hermes_nb.models import Session


def _reloaded(session_id: str) -> Session:
    models.SESSIONS.clear()
    s = Session.load(session_id)
    assert s is not None
    return s


def test_list_files_on_a_non_utf8_file_name(session_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the folder the file tools work in without asking
    folder = tmp_path / "data"
    folder.mkdir()
    with open(os.path.join(os.fsencode(folder), b"caf\xff.csv"), "wb") as fh:
        fh.write(b"1,2\n")
    provider = StepProvider(call("list_files", path=str(folder)), say("There is one file."))
    run, _, outcome = run_turn(provider, "What is in data?")
    assert outcome.written
    saved = _reloaded(run.session_id)
    [result] = [m["content"] for m in saved.messages if m["role"] == "tool"]
    assert "caf\udcff.csv" in result
    assert saved.messages[-1]["content"] == "There is one file."
    assert not saved.pending


def test_the_python_tool_printing_a_lone_surrogate(session_dir: Path) -> None:
    provider = StepProvider(call("python", code="print('bad \\udcff byte')"), say("Printed."))
    run, _, outcome = run_turn(provider, "print it")
    assert outcome.written
    saved = _reloaded(run.session_id)
    [result] = [m["content"] for m in saved.messages if m["role"] == "tool"]
    assert "bad \udcff byte" in result
    assert on_disk(run.session_id)["active_stream_id"] is None


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedServer]:
    with ScriptedServer() as srv:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
        monkeypatch.setenv("OPENAI_BASE_URL", srv.url)
        yield srv


def test_an_emoji_sent_as_two_escaped_halves_in_separate_chunks(session_dir: Path, server: ScriptedServer) -> None:
    server.push(text_reply("smile ", "\ud83d", "\ude00", " done"))
    provider = OpenAICompatProvider(
        "openai:test", "test", Endpoint("OpenAI", None, "OPENAI_BASE_URL"), retry=RetryPolicy(retries=0, base_delay=0.01)
    )
    run, _, outcome = run_turn(provider, "smile")
    assert outcome.written
    raw = (models.SESSION_DIR / f"{run.session_id}.json").read_bytes()
    raw.decode("utf-8")
    saved = json.loads(raw)
    assert saved["messages"][-1]["content"] == "smile \U0001f600 done"
    assert saved["active_stream_id"] is None
