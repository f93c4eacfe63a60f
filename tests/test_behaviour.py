"""What a user meets after the first few cells: failed requests, titles, notes, line
commands that find sessions, loading and unloading. In-process IPython, real files,
and the local SSE server where what the model received matters."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from dead_run import leave_dead_run, run_lock_held_elsewhere
from notebook_shell import (
    NOTEBOOK,
    MakeNotebook,
    Notebook,
    requests_of,
)
from sse_server import ScriptedServer, text_reply
from traitlets import TraitError

from hermes_nb import models, streaming
from hermes_nb.agent.providers.replay import ReplayProvider


def users(body: dict[str, Any]) -> list[str]:
    return [m["content"] for m in body["messages"] if m["role"] == "user"]


@pytest.fixture
def server(nb: Notebook, monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedServer]:
    """An OpenAI-protocol server as the notebook's model; no key set yet."""
    with ScriptedServer() as srv:
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        monkeypatch.setenv("OPENAI_BASE_URL", srv.url)
        nb.run('%config AgentMagics.model = "openai:test-model"').ok()
        nb.run("%config AgentMagics.auto_title = False").ok()  # no title request in between
        yield srv


# -- failed requests ----------------------------------------------------------------------


def test_failed_requests_are_kept_but_not_sent_again(nb: Notebook, server: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    for _ in range(4):
        assert "No API key" in nb.run("%%agent\nhi").ok().out
    assert not server.requests  # nothing reached the server
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0123456789")
    server.push(text_reply("Hello."))
    assert "Hello." in nb.run("%%agent\nhello").ok().out
    assert users(server.requests[0].body) == ["hello"]
    history = nb.run("%agent history").ok().out
    assert history.count("hi\n") >= 4 and "hello" in history  # still visible to the user
    assert sum(1 for m in nb.on_disk()["messages"] if m.get("content") == "hi") == 4


def test_requests_to_a_server_that_was_down_are_not_sent_again(nb: Notebook, server: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0123456789")
    monkeypatch.setenv("HERMES_NB_MAX_RETRIES", "0")
    with ScriptedServer() as gone:
        down = gone.url  # nothing listens there any more
    monkeypatch.setenv("OPENAI_BASE_URL", down)
    for _ in range(4):
        out = nb.run("%%agent\nhi").ok().out
        assert "refused the connection" in out and down.split("//")[1] in out
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)  # the server is back
    server.push(text_reply("Hello."))
    assert "Hello." in nb.run("%%agent\nhello").ok().out
    assert users(server.requests[0].body) == ["hello"]


def test_resume_still_sends_the_failed_request_it_continues(nb: Notebook, server: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    nb.run("%%agent\nfirst try").ok()
    nb.run("%%agent\nsecond try").ok()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0123456789")
    server.push(text_reply("Answer to the second."), text_reply("And now."))
    assert "Answer to the second." in nb.run("%agent resume").ok().out
    assert users(server.requests[0].body) == ["second try"]
    nb.run("%%agent\nnext").ok()
    assert users(server.requests[1].body) == ["second try", "next"]  # answered: it stays


# -- titles, notes ------------------------------------------------------------------------


def test_a_restored_and_resumed_run_gets_a_title(make_notebook: MakeNotebook) -> None:
    sid = models.new_session(notebook=NOTEBOOK).session_id
    leave_dead_run(sid)
    models.SESSIONS.clear()  # a fresh kernel
    nb = make_notebook()
    nb.run('%config AgentMagics.display = "text"').ok()
    assert nb.magics.current_session_id == sid
    nb.use_script("unused", "Both results are in.")  # a replay picks its reply by turn
    assert "Both results are in." in nb.run("%agent resume").ok().out
    assert nb.on_disk(sid)["title"] == "analyse the data"


def test_the_plain_chat_note_is_given_once_per_session(make_notebook: MakeNotebook, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ReplayProvider, "supports_tools", False)
    nb = make_notebook()
    nb.run('%config AgentMagics.display = "text"').ok()
    nb.use_script("one", "two", "three", "four")
    note = "cannot call tools; running as plain chat"
    assert note in nb.run("%%agent\nfirst").ok().out
    assert note not in nb.run("%%agent\nsecond").ok().out
    sid = nb.current
    models.SESSIONS.clear()  # a new kernel: the session file remembers
    nb = make_notebook()
    nb.run('%config AgentMagics.display = "text"').ok()
    nb.use_script("three")
    assert nb.current == sid
    assert note not in nb.run("%%agent\nthird").ok().out
    assert note in nb.run("%%agent --new\nelsewhere").ok().out  # a new session is told


# -- messages -------------------------------------------------------------------------------


def test_resume_and_cancel_agree_about_a_run_in_another_kernel(nb: Notebook) -> None:
    nb.use_script("Done.")
    nb.run("%%agent\nwork").ok()
    sid = nb.current
    leave_dead_run(sid)
    with run_lock_held_elsewhere(nb.sessions_dir / f"{sid}.run.lock"):
        resume = nb.run("%agent resume").usage_error()
        cancel = nb.run("%agent cancel").usage_error()
    assert resume == cancel
    assert "another kernel" in resume and "interrupt that kernel" in resume
    assert nb.on_disk(sid)["active_stream_id"] == "deadbeef00000000"  # left alone


def test_resume_continues_a_run_whose_kernel_died_since_loading(nb: Notebook, replays: list[ReplayProvider]) -> None:
    nb.use_script("Done.", "unused", "Both results are in.")
    nb.run("%%agent\nwork").ok()
    leave_dead_run(nb.current)  # its kernel died after this one loaded hermes_nb
    assert "Both results are in." in nb.run("%agent resume").ok().out
    sent = requests_of(replays)[-1]
    assert [m["content"] for m in sent if m["role"] == "user"][-1] == "analyse the data"
    kinds = [m.get("kind") for m in nb.on_disk()["messages"] if m["role"] == "marker"]
    assert "interrupted" in kinds and nb.on_disk()["active_stream_id"] is None


def test_the_turn_limit_note_points_to_resume(nb: Notebook) -> None:
    call = {"tool_calls": [{"name": "python", "arguments": {"code": "1"}}]}
    nb.use_script(call, call, "Finished.")
    cell = nb.run("%%agent --max-turns 2\nloop").ok()
    assert "%agent resume" in cell.out
    assert "%agent resume" in nb.on_disk()["messages"][-1]["content"]
    assert "Finished." in nb.run("%agent resume").ok().out


# -- loading, configuring --------------------------------------------------------------------


def agent_configurables(nb: Notebook) -> list[Any]:
    return [c for c in nb.shell.configurables if type(c).__name__ == "AgentMagics"]


def test_unload_removes_the_magics_and_stops_runs(nb: Notebook) -> None:
    run = streaming.Run("20250101_000000_00000000", "x")  # stands for a run of this kernel
    streaming.ACTIVE_RUNS[run.stream_id] = run
    try:
        nb.run("%unload_ext hermes_nb").ok()
        assert run.cancel_event.is_set()
    finally:
        streaming.ACTIVE_RUNS.pop(run.stream_id, None)
    assert nb.shell.find_line_magic("agent") is None and nb.shell.find_cell_magic("agent") is None
    assert "AgentMagics" not in nb.shell.magics_manager.registry
    assert not agent_configurables(nb)
    assert nb.run("%agent sessions").error is not None  # the magic is gone
    nb.run("%load_ext hermes_nb").ok()
    nb.run("%reload_ext hermes_nb").ok()
    assert len(agent_configurables(nb)) == 1
    assert nb.run("%config").ok().out.count("AgentMagics") == 1
    assert nb.run("%agent help").ok().out.startswith("%%agent")


def test_a_bad_tool_policy_is_refused_when_set(nb: Notebook, caplog: pytest.LogCaptureFixture) -> None:
    nb.run('%config AgentMagics.tool_policies = {"shell": "deny"}').ok()
    nb.run('%config AgentMagics.tool_policies = {"python": "maybe"}')  # %config logs the error
    assert "unknown policy 'maybe' for tool 'python'" in caplog.text
    assert nb.magics.tool_policies == {"shell": "deny"}
    with pytest.raises(TraitError):
        nb.magics.tool_policies = {"python": 3}


# -- line commands -----------------------------------------------------------------------------


def test_use_takes_a_unique_prefix_or_a_title(nb: Notebook) -> None:
    a = models.new_session(title="Sales report", notebook=NOTEBOOK).session_id
    b = models.new_session(title="Cleaning", notebook=NOTEBOOK).session_id
    assert f"Using session {a}" in nb.run(f"%agent use {a}").ok().out
    assert f"Using session {b}" in nb.run(f"%agent use {b[:-3]}").ok().out
    assert nb.magics.current_session_id == b
    assert f"Using session {a}" in nb.run("%agent use sales REPORT").ok().out
    ambiguous = nb.run(f"%agent use {a[:2]}").usage_error()
    assert "matches 2 sessions" in ambiguous and a in ambiguous and b in ambiguous
    assert "No session matches" in nb.run("%agent use nothing-like-it").usage_error()
    assert nb.magics.current_session_id == a


def test_history_numbers_turns_and_fork_counts_them(nb: Notebook) -> None:
    call = {"text": "Computing.", "tool_calls": [{"name": "python", "arguments": {"code": "6 * 7"}}]}
    nb.use_script(call, "It is 42.", "Second answer.", "Third answer.")
    for ask in ("compute", "again", "once more"):
        nb.run(f"%%agent\n{ask}").ok()
    history = nb.run("%agent history").ok().out
    assert "[1] User" in history and "[2] User" in history and "[3] User" in history
    original = nb.current
    out = nb.run("%agent fork 2").ok().out
    assert "(2 turns)" in out and nb.current != original
    forked = nb.on_disk()["messages"]
    assert [m["content"] for m in forked if m["role"] == "user"] == ["compute", "again"]
    assert forked[-1]["content"] == "Second answer."
    assert "this session has 2" in nb.run("%agent fork 3").usage_error()


def test_an_empty_untitled_session_goes_when_left(nb: Notebook) -> None:
    nb.use_script("First.", "Second.")
    nb.run("%%agent\nfirst").ok()
    first = nb.current
    nb.run("%agent new").ok()
    empty = nb.current
    nb.run("%agent new").ok()  # the first empty one is left: it goes
    assert not (nb.sessions_dir / f"{empty}.json").exists()
    nb.run(f"%agent use {first}").ok()  # so does the second
    assert len(nb.session_files()) == 1
    listed = nb.run("%agent sessions").ok().out
    assert "New session" not in listed and len(listed.splitlines()) == 1
    nb.run("%agent new Plans").ok()  # a named one stays, empty or not
    nb.run("%agent new").ok()
    nb.run("%%agent\nsecond").ok()  # asked in: it stays
    nb.run(f"%agent use {first}").ok()
    assert len(nb.session_files()) == 3
    assert "Plans" in nb.run("%agent sessions").ok().out
