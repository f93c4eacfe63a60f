"""What lets a frontend find a run again: the run id recorded on its turn, the live
view's MIME entry, the run status comm, and what a restore reports as saved."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dead_run import leave_dead_run, run_lock_held_elsewhere
from IPython.utils.capture import CapturedIO
from notebook_shell import NOTEBOOK
from turn_harness import StepProvider, call, on_disk, run_turn, say

from hermes_nb import config, models, streaming
from hermes_nb.agent.loop import Agent
from hermes_nb.kernel.cell_loop import drive
from hermes_nb.ui.run_status import COMM_TARGET, MIME_TYPE, RunInfo, RunStatusComm, final_state
from hermes_nb.ui.widget import WidgetRenderer
from tests.ui_helpers import comm_log_fixture, displayed_fixture  # noqa: F401  (fixtures)

# -- the run id on the turn ----------------------------------------------------------------


def test_a_finished_turn_records_its_run_id_on_the_request(session_dir: Path) -> None:
    run, _, outcome = run_turn(StepProvider(say("Hello.")), "hi")
    assert outcome.written
    first = on_disk(run.session_id)["messages"][0]
    assert first == {**first, "role": "user", "content": "hi", "run_id": run.stream_id}
    assert all("run_id" not in m for m in on_disk(run.session_id)["messages"][1:])


def test_a_failed_turn_records_its_run_id(session_dir: Path) -> None:
    def boom(messages: list[dict[str, Any]], cancel: threading.Event) -> Iterator[Any]:
        raise RuntimeError("the provider broke")
        yield  # pragma: no cover

    run, _, outcome = run_turn(StepProvider(boom), "hi")
    saved = on_disk(run.session_id)["messages"]
    assert saved[0]["run_id"] == run.stream_id and saved[-1]["kind"] == "error"


def test_a_cancelled_run_records_its_run_id(session_dir: Path) -> None:
    sid = models.new_session(title="t").session_id
    run = streaming.Run(sid, "long job")
    run.start()
    run.turn.append_text("partial")
    assert streaming.cancel_stream(run.stream_id)
    run.abandon()
    saved = on_disk(sid)["messages"]
    assert saved[0]["run_id"] == run.stream_id and saved[-1]["kind"] == "cancelled"


def test_a_restored_run_keeps_its_run_id_and_a_resume_records_its_own(session_dir: Path) -> None:
    sid = models.new_session(title="Analysis", notebook="nb.ipynb").session_id
    leave_dead_run(sid)
    models.SESSIONS.clear()
    [report] = streaming.restore_interrupted("nb.ipynb")
    assert report.run_id == "deadbeef00000000"
    assert on_disk(sid)["messages"][0]["run_id"] == "deadbeef00000000"

    run, _, _ = run_turn(StepProvider(say("Both done.")), None, session_id=sid)
    resumed = [m for m in on_disk(sid)["messages"] if m.get("run_id") == run.stream_id]
    assert [(m["role"], m["content"]) for m in resumed] == [("assistant", "Both done.")]


def test_the_run_id_is_never_sent_to_the_model(session_dir: Path) -> None:
    provider = StepProvider(say("One."), say("Two."))
    run, _, _ = run_turn(provider, "first")
    run_turn(provider, "second", session_id=run.session_id)
    assert not any("run_id" in m for m in provider.requests[1])


# -- what a restore says was saved ----------------------------------------------------------


def test_saved_text_and_a_tool_call_without_result_are_counted(session_dir: Path) -> None:
    """The kernel died during a slow tool: the text before the call and the call itself
    are in a completed message, nothing streams, no result yet (it said 0 and 0)."""
    sid = models.new_session(title="Slow", notebook="nb.ipynb").session_id
    leave_dead_run(sid)
    with config._get_session_agent_lock(sid):
        session = models.get_session(sid)
        session.pending_messages = [
            {"role": "assistant", "content": "I'll run the slow part.", "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "python", "arguments": "{}"}},
            ]},
        ]  # fmt: skip
        session.save()
    models.SESSIONS.clear()
    [report] = streaming.restore_interrupted("nb.ipynb")
    assert (report.tool_calls, report.tool_results, report.text_chars) == (1, 0, 23)
    assert report.kept() == "your request, 1 tool call (0 with a result), 23 characters of answer"
    marker = on_disk(sid)["messages"][-1]
    assert "1 tool call (0 with a result), 23 characters of answer" in marker["content"]


def test_the_restore_notice_reads_as_markdown_and_as_text() -> None:
    report = streaming.RestoreReport("s1", "Sales <b>", 0.0, True, 2, 1, 1234, "r1")
    bundle = report.mimebundle()
    assert set(bundle) == {"text/plain", "text/markdown"}
    assert "Saved: your request, 2 tool calls (1 with a result), 1,234 characters of answer." in bundle["text/plain"]
    assert "%agent resume s1" in bundle["text/plain"]
    assert "*Sales &lt;b&gt;*" in bundle["text/markdown"] and "`%agent resume s1`" in bundle["text/markdown"]
    assert all(len(line) < 120 for line in bundle["text/plain"].splitlines())
    done = streaming.RestoreReport("s1", "t", None, True, 1, 1, 0)
    assert done.kept() == "your request, 1 tool call with its result, no answer text yet"
    assert streaming.RestoreReport("s1", "t", None, False, 2, 2, 5).kept() == "2 tool calls with their results, 5 characters of answer"


# -- the live view's MIME entry and the status comm ----------------------------------------


def test_the_live_view_names_its_session_and_run(
    session_dir: Path, comm_log: list[dict[str, Any]], displayed: CapturedIO,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import IPython.display

    shown: list[dict[str, Any]] = []  # the live view is cleared at the end: catch it as it is shown
    real = IPython.display.display

    def spy(*objs: Any, **kwargs: Any) -> Any:
        shown.extend(o for o in objs if kwargs.get("raw") and isinstance(o, dict))
        return real(*objs, **kwargs)

    monkeypatch.setattr(IPython.display, "display", spy)
    monkeypatch.setenv("JPY_SESSION_NAME", "/work/analysis.ipynb")  # a Jupyter server's kernel
    sid = models.new_session(title="t", notebook="analysis.ipynb").session_id
    renderer = WidgetRenderer("replay:x")
    agent = Agent(StepProvider(say("Hello.")), None)
    run = streaming.Run(sid, "hi")
    drive(run, agent, renderer, flush_interval=0.01)
    live = [data for data in shown if "application/vnd.jupyter.widget-view+json" in data]
    assert len(live) == 1
    entry = live[0][MIME_TYPE]
    assert entry == {
        "version": 1, "session_id": sid, "run_id": run.stream_id, "notebook": "analysis.ipynb",
        "session_dir": entry["session_dir"], "model": "replay:x", "started_at": run.started_at,
    }  # fmt: skip
    assert (Path.cwd() / entry["session_dir"]).resolve() == session_dir.resolve()


def test_run_info_gives_the_folder_relative_to_the_notebook(tmp_path: Path) -> None:
    info = RunInfo.for_run(
        "s", "r", notebook="a.ipynb", session_dir=tmp_path / ".hermes_nb" / "sessions",
        model="m", started_at=1.0, notebook_dir=tmp_path,
    )  # fmt: skip
    assert info.mime()["session_dir"] == ".hermes_nb/sessions"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_status_comm_is_rate_limited_and_closes_with_the_final_state(comm_log: list[dict[str, Any]]) -> None:
    clock = Clock()
    status = RunStatusComm(RunInfo("s", "r", "nb.ipynb", ".hermes_nb/sessions", "m", 1.0), clock=clock)
    status.open()
    opened = [m for m in comm_log if m["msg_type"] == "comm_open"]
    assert opened and opened[-1]["data"]["phase"] == "running"
    sent = 0
    for step in range(40):  # 4 seconds at 10 updates a second
        clock.now = step * 0.1
        sent += status.update(clock.now, 10, step, "python" if step > 20 else None)
    assert 6 <= sent <= 9
    status.close("done", 4.0, 10, 40)
    msgs = [m["data"] for m in comm_log if m["msg_type"] == "comm_msg"]
    assert msgs[-1] == {
        "session_id": "s", "run_id": "r", "model": "m", "phase": "done", "elapsed": 4.0,
        "input_tokens": 10, "output_tokens": 40, "tool": None,
    }  # fmt: skip
    assert any(m["tool"] == "python" for m in msgs)
    assert comm_log[-1]["msg_type"] == "comm_close"
    assert status.update(5.0, 1, 1, None) is False  # closed: nothing more


def test_a_run_opens_and_closes_its_status_comm(
    session_dir: Path, comm_log: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JPY_SESSION_NAME", "/work/analysis.ipynb")  # a Jupyter server's kernel
    run, _, _ = run_turn(StepProvider(call("python", code="1+1"), say("Two.")), "add")
    opens = [
        m for m in comm_log
        if m["msg_type"] == "comm_open" and isinstance(m["data"], dict) and m["data"].get("run_id") == run.stream_id
    ]  # fmt: skip
    assert len(opens) == 1
    ours = [m for m in comm_log if isinstance(m["data"], dict) and m["data"].get("run_id") == run.stream_id]
    assert ours[-1]["data"]["phase"] == "done"
    assert comm_log[-1]["msg_type"] == "comm_close"


def test_the_status_comm_has_the_tokens_while_a_kernel_tool_runs(
    session_dir: Path, comm_log: list[dict[str, Any]], displayed: CapturedIO,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The usage arrives just before the tool call, under 0.5 s after the comm opened; the
    python tool then holds the cell thread. The status item used to say 0 tokens all
    through the tool while the cell showed them."""
    from hermes_nb.agent.providers.base import TextDelta, ToolCallRequest, UsageChunk
    from hermes_nb.agent.tools.builtin import builtin_tools

    def text_usage_then_tool(messages: list[dict[str, Any]], cancel: threading.Event) -> Iterator[Any]:
        yield TextDelta("Let me look.")
        yield UsageChunk(123, 7)
        yield ToolCallRequest("call_1", "python", json.dumps({"code": "seen = status()"}))

    def status() -> dict[str, Any]:  # what the frontend has been told so far
        ours = [m["data"] for m in comm_log if isinstance(m["data"], dict) and "phase" in m["data"]]
        return dict(ours[-1])

    monkeypatch.setenv("JPY_SESSION_NAME", "/work/analysis.ipynb")  # a Jupyter server's kernel
    ns: dict[str, Any] = {"status": status}
    sid = models.new_session(title="t", notebook="analysis.ipynb").session_id
    agent = Agent(StepProvider(text_usage_then_tool, say("Done.")), builtin_tools(ns))
    drive(streaming.Run(sid, "look"), agent, WidgetRenderer("replay:x"), flush_interval=0.01)
    seen = ns["seen"]
    assert seen["phase"] == "running"
    assert (seen["input_tokens"], seen["output_tokens"]) == (123, 7)
    assert seen["tool"] == "python"


@pytest.mark.parametrize(
    ("reason", "state"),
    [("complete", "done"), ("turn_limit", "done"), ("cancelled", "cancelled"), ("error", "failed")],
)
def test_final_states(reason: str, state: str) -> None:
    assert final_state(reason) == state


def test_comm_target_name() -> None:
    assert COMM_TARGET == "hermes_nb.run" and MIME_TYPE == "application/vnd.hermes-nb.run+json"


# -- %agent resume ID -----------------------------------------------------------------------


def test_resume_by_id_restores_a_dead_run_and_makes_it_current(make_notebook: Any, replays: list[Any]) -> None:
    """The frontend's Resume button runs ``%agent resume ID`` in the notebook's kernel;
    the run may still be pending (nothing restored it yet) and another session current."""
    nb = make_notebook()
    nb.run('%config AgentMagics.display = "text"').ok()
    sid = models.new_session(title="Analysis", notebook=NOTEBOOK).session_id
    other = models.new_session(title="Other", notebook=NOTEBOOK).session_id
    nb.run(f"%agent use {other}").ok()
    leave_dead_run(sid)
    nb.use_script("(never asked: the crash came after this reply)", "Both sums are done.")

    cell = nb.run(f"%agent resume {sid}").ok()
    assert nb.current == sid
    assert "interrupted by a kernel restart" in cell.out and "2 tool calls (1 with a result)" in cell.out
    assert "Both sums are done." in cell.out
    msgs = nb.on_disk(sid)["messages"]
    assert msgs[0]["run_id"] == "deadbeef00000000"
    assert msgs[-1] == {**msgs[-1], "role": "assistant", "content": "Both sums are done."}
    assert "Nothing to resume" in nb.run(f"%agent resume {sid}").usage_error()


def test_resume_by_id_leaves_a_live_run_alone(make_notebook: Any) -> None:
    nb = make_notebook()
    sid = models.new_session(title="Live", notebook=NOTEBOOK).session_id
    leave_dead_run(sid)
    with run_lock_held_elsewhere(models.SESSION_DIR / f"{sid}.run.lock"):
        error = nb.run(f"%agent resume {sid}").usage_error()
    assert "still going in another kernel" in error
    assert nb.on_disk(sid)["active_stream_id"] == "deadbeef00000000"


def test_a_comm_the_frontend_closed_gets_nothing_more(comm_log: list[dict[str, Any]]) -> None:
    clock = Clock()
    status = RunStatusComm(RunInfo("s", "r", None, ".hermes_nb/sessions", "m", 1.0), clock=clock)
    status.open()
    status._comm.handle_close({"content": {"data": {}}})  # no handler for the target there
    before = len(comm_log)
    clock.now = 10.0
    assert status.update(1.0, 1, 1, None) is False
    status.close("done", 2.0, 1, 1)
    assert len(comm_log) == before


def test_without_a_jupyter_server_the_live_view_has_no_run_entry(
    session_dir: Path, comm_log: list[dict[str, Any]], displayed: CapturedIO,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """nbclient, nbval and jupyter execute: nobody would read the entry or the status
    comm; nbval would count the entry, nbclient warns about the comm."""
    import IPython.display

    shown: list[dict[str, Any]] = []
    real = IPython.display.display

    def spy(*objs: Any, **kwargs: Any) -> Any:
        shown.extend(o for o in objs if kwargs.get("raw") and isinstance(o, dict))
        return real(*objs, **kwargs)

    monkeypatch.setattr(IPython.display, "display", spy)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    sid = models.new_session(title="t").session_id
    drive(streaming.Run(sid, "hi"), Agent(StepProvider(say("Hello.")), None), WidgetRenderer("replay:x"), flush_interval=0.01)
    live = [data for data in shown if "application/vnd.jupyter.widget-view+json" in data]
    assert len(live) == 1 and MIME_TYPE not in live[0]
    assert not [c for c in comm_log if c["msg_type"] == "comm_open" and (c["data"] or {}).get("run_id")]
