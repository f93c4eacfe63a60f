"""The run lifecycle: pending save, checkpoints, write-back, errors, cancel, restore."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dead_run import leave_dead_run, leave_run_killed_before_its_row, run_lock_held_elsewhere
from turn_harness import Recorder, StepProvider, call, on_disk, run_turn, say
from waiting import interrupt_when, streamed_words, wait_for, wait_until

from hermes_nb import config, models, session_ops, streaming
from hermes_nb.agent.loop import Agent
from hermes_nb.agent.providers.base import TextDelta
from hermes_nb.errors import ProviderUnavailableError
from hermes_nb.kernel import turn_history
from hermes_nb.kernel.cell_loop import drive
from hermes_nb.store import journal, runmarks


def test_a_complete_turn_lands_in_messages_and_clears_pending(session_dir: Path) -> None:
    ns: dict[str, Any] = {}
    provider = StepProvider(call("python", code="x = 6 * 7\nx"), say("It ", "is ", "42."))
    run, recorder, outcome = run_turn(provider, "What is 6*7?", ns=ns)

    assert outcome.stop_reason == "complete" and outcome.written
    assert ns["x"] == 42
    saved = on_disk(run.session_id)
    roles = [m["role"] for m in saved["messages"]]
    assert roles == ["user", "assistant", "tool", "assistant"]
    assert saved["messages"][0]["content"] == "What is 6*7?"
    assert "42" in saved["messages"][2]["content"]
    assert saved["messages"][3]["content"] == "It is 42."
    assert saved["active_stream_id"] is None and saved["pending_user_message"] is None
    assert saved["pending_messages"] == [] and saved["pending_partial_text"] == ""
    assert "tool.started" in recorder.kinds() and recorder.finished == "complete"
    row = next(r for r in models.list_sessions(include_all=True) if r.id == run.session_id)
    assert row.pending is False and row.message_count == 4


def row_of(sid: str) -> Any:
    return next(r for r in models.list_sessions(include_all=True) if r.id == sid)


def wait_for_pending_row(sid: str) -> None:
    """The index row says pending once the checkpoint thread published the start."""
    wait_for(lambda: row_of(sid).pending, what="the index row to say pending", interval=0.005)


def test_the_request_is_on_disk_before_the_provider_is_asked(session_dir: Path) -> None:
    seen: dict[str, Any] = {}

    def step(messages: list[dict[str, Any]], cancel: threading.Event) -> Iterator[Any]:
        seen.update(on_disk(sid))
        seen["marked"] = runmarks.marked(session_dir)
        wait_for_pending_row(sid)  # while the run is still going
        yield TextDelta("ok")

    sid = models.new_session(title="t").session_id
    run_turn(StepProvider(step), "remember me", session_id=sid)
    assert seen["pending_user_message"] == "remember me"
    assert seen["active_stream_id"] and seen["pending_started_at"]
    assert seen["active_stream_owner"]["pid"] > 0
    assert seen["marked"] == {sid}
    assert runmarks.marked(session_dir) == set()  # the finished run took its mark away
    assert row_of(sid).pending is False


def test_the_pending_record_is_flushed_off_the_request_path(session_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run.start appends the request without waiting for the disk; the checkpoint
    thread flushes it (and writes the row) once the request is on its way."""
    flushed: list[str] = []
    real = journal._datasync

    def datasync(fd: int) -> None:
        flushed.append(threading.current_thread().name)
        real(fd)

    monkeypatch.setattr(journal, "_datasync", datasync)
    monkeypatch.setattr(streaming, "PUBLISH_DELAY", 30.0)
    sid = models.new_session(title="t").session_id
    run = streaming.Run(sid, "flush me")
    run.start(checkpoints=False)
    try:
        assert flushed == [] and not row_of(sid).pending
        assert on_disk(sid)["pending_user_message"] == "flush me"
        run.start_checkpoints()
        time.sleep(0.2)
        assert flushed == []  # the checkpoint thread waits for the request to leave
        run.publish_start()  # as the cell thread does when it shows the run
        assert row_of(sid).pending
        wait_for(lambda: flushed, what="the request's record to be flushed", interval=0.005)
        assert flushed == [f"hermes_nb-checkpoint-{run.stream_id}"]
    finally:
        run.fail(RuntimeError("test over"))


def test_a_checkpoint_holds_the_tool_result_before_the_next_request(session_dir: Path) -> None:
    """The turn in progress reaches the disk in the background, not at the end."""
    seen: dict[str, Any] = {}

    def wait_for_checkpoint(messages: list[dict[str, Any]], cancel: threading.Event) -> Iterator[Any]:
        def checkpointed() -> bool:
            pending = on_disk(sid).get("pending_messages") or []
            if any(m.get("role") == "tool" for m in pending):
                seen["pending"] = pending
            return "pending" in seen

        wait_until(checkpointed, interval=0.01)
        yield TextDelta("done")

    sid = models.new_session(title="t").session_id
    index_before = models.SESSION_INDEX_FILE.read_bytes()
    run_turn(StepProvider(call("python", code="print('hello from tool')"), wait_for_checkpoint), "go", session_id=sid)
    assert "pending" in seen, "no checkpoint with the tool result reached the disk"
    assert "hello from tool" in json.dumps(seen["pending"])
    assert seen["pending"][0]["role"] == "assistant" and seen["pending"][0]["tool_calls"]
    assert index_before  # the index existed; checkpoints used skip_index (checked below)


def test_the_start_is_published_once_the_request_has_left(session_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The index row waits for word that the request left (its writing would take the
    GIL from the thread sending it), and the final save does not wait for it."""
    monkeypatch.setattr(streaming, "PUBLISH_DELAY", 30.0)
    sid = models.new_session(title="t").session_id
    run = streaming.Run(sid, "hi")
    run.start()
    try:
        time.sleep(0.3)
        assert not row_of(sid).pending
        run.publish_start()
        assert row_of(sid).pending
    finally:
        run.fail(RuntimeError("test over"))
    quick = streaming.Run(sid, "again")
    quick.start()
    started = time.monotonic()
    quick.fail(RuntimeError("over at once"))
    assert time.monotonic() - started < 5 and not row_of(sid).pending
    assert runmarks.marked(session_dir) == set()


def test_the_index_says_running_before_the_page_hears_of_the_run(session_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sessions list a page fetches when the run status comm opens shows the run."""
    from hermes_nb.kernel import cell_loop

    monkeypatch.setattr(streaming, "PUBLISH_DELAY", 30.0)
    seen: list[bool] = []
    announce = cell_loop._announce

    def watched(run: streaming.Run, renderer: Any) -> Any:
        seen.append(row_of(run.session_id).pending)
        return announce(run, renderer)

    monkeypatch.setattr(cell_loop, "_announce", watched)
    run, _, outcome = run_turn(StepProvider(say("ok")), "hello")
    assert outcome.written and seen == [True]
    assert not row_of(run.session_id).pending


def test_checkpoint_saves_only_when_something_changed(session_dir: Path) -> None:
    sid = models.new_session(title="t").session_id
    run = streaming.Run(sid, "hi")
    run.start()
    try:
        run.turn.append_text("partial")
        wait_for_pending_row(sid)
        index_mtime = models.SESSION_INDEX_FILE.stat().st_mtime_ns
        assert run.checkpoint() is True
        assert run.checkpoint() is False
        assert on_disk(sid)["pending_partial_text"] == "partial"
        assert models.SESSION_INDEX_FILE.stat().st_mtime_ns == index_mtime
        run.turn.append_text(" more")
        assert run.checkpoint() is True
        assert on_disk(sid)["pending_partial_text"] == "partial more"
    finally:
        run.fail(RuntimeError("test over"))


def test_a_stale_run_never_overwrites_newer_state(session_dir: Path) -> None:
    sid = models.new_session(title="t").session_id
    run = streaming.Run(sid, "first")
    run.start()
    with config._get_session_agent_lock(sid):
        session = models.get_session(sid)
        session.active_stream_id = "someone-else"
        session.messages.append({"role": "user", "content": "newer"})
        session.save()
    from hermes_nb.agent.loop import TurnResult

    result = TurnResult(messages=[{"role": "assistant", "content": "old"}], text="old", stop_reason="complete", input_tokens=1, output_tokens=1, cost=None, error=None)
    assert run.finish(result) is False
    assert [m["content"] for m in on_disk(sid)["messages"]] == ["newer"]
    assert streaming.ACTIVE_RUNS.get(run.stream_id) is None


def test_a_provider_error_keeps_the_request_and_says_why(session_dir: Path) -> None:
    def fail(messages: list[dict[str, Any]], cancel: threading.Event) -> Iterator[Any]:
        raise ProviderUnavailableError("The server at http://127.0.0.1:9 is down (HTTP 503).")
        yield  # pragma: no cover

    run, recorder, outcome = run_turn(StepProvider(fail), "are you there?")
    saved = on_disk(run.session_id)["messages"]
    assert saved[0] == {**saved[0], "role": "user", "content": "are you there?"}
    assert saved[-1]["role"] == "marker" and saved[-1]["kind"] == "error"
    assert "503" in saved[-1]["content"]
    assert "error" in recorder.kinds() and outcome.stop_reason == "error"
    assert on_disk(run.session_id)["active_stream_id"] is None


def test_an_empty_reply_is_reported_not_silent(session_dir: Path) -> None:
    run, _, outcome = run_turn(StepProvider(say()), "hello?")
    saved = on_disk(run.session_id)["messages"]
    assert saved[-1]["role"] == "marker" and saved[-1]["kind"] == "empty"


def test_interrupt_mid_text_cancels_and_keeps_partial_text(session_dir: Path) -> None:
    words = [f"w{i} " for i in range(200)]
    with interrupt_when(streamed_words(3), what="the first words"):
        run, recorder, outcome = run_turn(StepProvider(say(*words, delay=0.01)), "count slowly")
    assert outcome.stop_reason == "cancelled"
    saved = on_disk(run.session_id)["messages"]
    assert saved[0]["content"] == "count slowly"
    partial = [m for m in saved if m["role"] == "assistant"]
    assert partial and partial[-1]["content"].startswith("w0 w1 ")
    assert len(partial[-1]["content"].split()) < 200
    assert saved[-1]["role"] == "marker" and saved[-1]["kind"] == "cancelled"


def test_interrupt_during_a_kernel_tool_gives_the_call_a_result(session_dir: Path) -> None:
    ns: dict[str, Any] = {}
    with interrupt_when(lambda: "time" in ns, what="the tool to start"):  # its first line ran
        run, _, outcome = run_turn(StepProvider(call("python", code="import time\nfor _ in range(100): time.sleep(0.05)"), say("never")), "sleep", ns=ns)
    assert outcome.stop_reason == "cancelled"
    saved = on_disk(run.session_id)["messages"]
    calls = [c["id"] for m in saved if m["role"] == "assistant" for c in m.get("tool_calls") or []]
    results = [m["tool_call_id"] for m in saved if m["role"] == "tool"]
    assert calls and sorted(calls) == sorted(results)


def test_cancel_stream_keeps_partial_output_and_the_run_then_finds_itself_stale(session_dir: Path) -> None:
    sid = models.new_session(title="t").session_id
    words = [f"w{i} " for i in range(300)]
    outcome_box: dict[str, Any] = {}

    def cancel_later() -> None:
        wait_for(streamed_words(3), what="the first words", interval=0.005)
        stream_id = next(iter(streaming.ACTIVE_RUNS))
        outcome_box["cancelled"] = streaming.cancel_stream(stream_id)

    helper = threading.Thread(target=cancel_later)
    helper.start()
    run, _, outcome = run_turn(StepProvider(say(*words, delay=0.01)), "long", session_id=sid)
    helper.join()
    assert outcome_box["cancelled"] is True
    assert outcome.written is False  # the cancel wrote the turn; the run was stale
    saved = on_disk(sid)["messages"]
    assert saved[0]["content"] == "long" and saved[-1]["kind"] == "cancelled"
    assert any(m["role"] == "assistant" and m["content"].startswith("w0 ") for m in saved)
    assert on_disk(sid)["active_stream_id"] is None


def test_restore_repairs_a_run_left_by_a_dead_kernel(session_dir: Path) -> None:
    sid = models.new_session(title="Analysis", notebook="nb.ipynb").session_id
    leave_dead_run(sid)
    models.SESSIONS.clear()

    reports = streaming.restore_interrupted("nb.ipynb")
    assert [r.session_id for r in reports] == [sid]
    assert "interrupted" in reports[0].notice() and "%agent resume" in reports[0].notice()
    saved = on_disk(sid)
    msgs = saved["messages"]
    assert msgs[0]["role"] == "user" and msgs[0]["content"] == "analyse the data" and msgs[0]["recovered"]
    assert {m["tool_call_id"]: m["content"] for m in msgs if m["role"] == "tool"}["c1"] == "2"
    assert "Interrupted" in {m["tool_call_id"]: m["content"] for m in msgs if m["role"] == "tool"}["c2"]
    assert msgs[-1]["role"] == "marker" and msgs[-1]["kind"] == "interrupted"
    assert saved["active_stream_id"] is None and saved["pending_messages"] == []
    assert streaming.restore_interrupted("nb.ipynb") == []
    assert turn_history.is_resumable(models.get_session(sid))


def test_resume_sends_the_recovered_tool_results_not_the_markers(session_dir: Path) -> None:
    sid = models.new_session(title="Analysis", notebook="nb.ipynb").session_id
    leave_dead_run(sid)
    models.SESSIONS.clear()
    streaming.restore_interrupted("nb.ipynb")

    provider = StepProvider(say("Both sums done."))
    run_turn(provider, None, session_id=sid)
    sent = provider.requests[0]
    assert not any(m.get("role") == "marker" for m in sent)
    tool_results = [m for m in sent if m.get("role") == "tool"]
    assert [m["tool_call_id"] for m in tool_results] == ["c1", "c2"]
    assert any(m.get("role") == "user" and m.get("content") == "analyse the data" for m in sent)
    assert on_disk(sid)["messages"][-1] == {**on_disk(sid)["messages"][-1], "role": "assistant", "content": "Both sums done."}
    assert not turn_history.is_resumable(models.get_session(sid))


def test_restore_finds_a_run_killed_before_its_index_row_said_pending(session_dir: Path) -> None:
    sid = models.new_session(title="t", notebook="nb.ipynb").session_id
    other = models.new_session(title="o", notebook="other.ipynb").session_id
    leave_run_killed_before_its_row(session_dir, sid)
    leave_run_killed_before_its_row(session_dir, other)
    assert not row_of(sid).pending and runmarks.marked(session_dir) == {sid, other}
    [report] = streaming.restore_interrupted("nb.ipynb")
    assert report.session_id == sid and report.had_user_message
    saved = on_disk(sid)
    assert saved["active_stream_id"] is None
    assert saved["messages"][0]["content"] == "analyse the data" and saved["messages"][0]["recovered"]
    assert saved["messages"][-1]["kind"] == "interrupted"
    assert row_of(sid).stopped == "interrupted"
    assert runmarks.marked(session_dir) == {other}  # another notebook's run waits for its own load
    assert on_disk(other)["pending_user_message"] == "analyse the data"


def test_a_mark_over_a_settled_session_is_removed_without_a_report(session_dir: Path) -> None:
    sid = models.new_session(title="t").session_id
    gone = "20250101_000000_0badf00d"
    runmarks.put(session_dir, sid)
    runmarks.put(session_dir, gone)  # a session moved away meanwhile
    (session_dir / "not an id.running").write_text("")
    before = (session_dir / f"{sid}.json").read_bytes()
    assert streaming.restore_interrupted(None) == []
    assert runmarks.marked(session_dir) == set()
    assert (session_dir / f"{sid}.json").read_bytes() == before


def test_restore_leaves_a_run_alive_in_another_process_alone(session_dir: Path) -> None:
    sid = models.new_session(title="Live", notebook="nb.ipynb").session_id
    leave_dead_run(sid)
    with run_lock_held_elsewhere(session_dir / f"{sid}.run.lock"):
        models.SESSIONS.clear()
        assert streaming.restore_interrupted("nb.ipynb") == []
        assert on_disk(sid)["active_stream_id"] == "deadbeef00000000"
    models.SESSIONS.clear()
    assert [r.session_id for r in streaming.restore_interrupted("nb.ipynb")] == [sid]


@pytest.mark.parametrize("operation", ["undo", "retry", "cancel"])
def test_checkpoints_racing_session_operations_only_save_real_states(session_dir: Path, monkeypatch: pytest.MonkeyPatch, operation: str) -> None:
    """Every state that reaches the disk is one the canonical object really had."""
    sid = models.new_session(title="race").session_id
    with config._get_session_agent_lock(sid):
        session = models.get_session(sid)
        for i in range(30):
            session.messages += [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]
        session.save()

    start = on_disk(sid)
    in_memory: list[str] = [json.dumps(start["messages"], sort_keys=True) + json.dumps(start["pending_messages"], sort_keys=True)]
    original_save = models.Session.save

    def recording_save(self: models.Session, *args: Any, **kwargs: Any) -> None:
        original_save(self, *args, **kwargs)
        in_memory.append(json.dumps(self.messages, sort_keys=True) + json.dumps(self.pending_messages, sort_keys=True))

    original_changes = models.Session.save_changes

    def recording_changes(self: models.Session, *args: Any, **kwargs: Any) -> None:
        original_changes(self, *args, **kwargs)  # appended to the journal (or a full save)
        in_memory.append(json.dumps(self.messages, sort_keys=True) + json.dumps(self.pending_messages, sort_keys=True))

    monkeypatch.setattr(models.Session, "save", recording_save)
    monkeypatch.setattr(models.Session, "save_changes", recording_changes)
    on_disk_states: list[str] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            data = on_disk(sid)
            on_disk_states.append(json.dumps(data["messages"], sort_keys=True) + json.dumps(data["pending_messages"], sort_keys=True))

    run = streaming.Run(sid, "q-final", checkpoint_interval=0.001)
    run.start()
    watcher = threading.Thread(target=reader)
    watcher.start()
    try:
        for i in range(40):
            run.turn.add_message({"role": "assistant", "content": f"step {i}"})
            run.poke()
            if operation == "undo" and i % 4 == 0:
                session_ops.undo_last(sid)
            elif operation == "retry" and i % 4 == 0:
                session_ops.retry_last(sid)
            time.sleep(0.002)
        if operation == "cancel":
            assert streaming.cancel_stream(run.stream_id)
    finally:
        if operation != "cancel":
            run.fail(RuntimeError("done"))
        else:
            run.abandon()
        stop.set()
        watcher.join()
    real = set(in_memory)
    assert on_disk_states and all(state in real for state in on_disk_states)


def test_a_failure_between_the_pending_save_and_the_agent_thread_still_cleans_up(session_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sid = models.new_session(title="t").session_id

    def broken_history(self: streaming.Run) -> list[dict[str, Any]]:
        raise OSError("disk went away")

    monkeypatch.setattr(streaming.Run, "history", broken_history)
    agent = Agent(StepProvider(say("never")), None)
    with pytest.raises(OSError):
        drive(streaming.Run(sid, "keep me"), agent, Recorder())
    saved = on_disk(sid)
    assert saved["active_stream_id"] is None and not streaming.ACTIVE_RUNS
    assert saved["messages"][0]["content"] == "keep me" and saved["messages"][-1]["kind"] == "error"


def test_the_checkpoint_thread_starts_once_the_agent_thread_runs(session_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Starting the checkpoint thread is kept off the request's path."""
    release = threading.Event()
    agent_alive_at_start: list[bool] = []
    real_start = streaming.Checkpointer.start

    def recording_start(self: streaming.Checkpointer) -> None:
        agent_alive_at_start.append(any(t.name.startswith("hermes_nb-agent-") for t in threading.enumerate()))
        release.set()
        real_start(self)

    def step(messages: list[dict[str, Any]], cancel: threading.Event) -> Iterator[Any]:
        release.wait(10)  # the agent thread stays alive until the checkpoint thread starts
        yield TextDelta("ok")

    monkeypatch.setattr(streaming.Checkpointer, "start", recording_start)
    run, _, outcome = run_turn(StepProvider(step), "go")
    assert agent_alive_at_start == [True]
    assert outcome.stop_reason == "complete" and on_disk(run.session_id)["messages"][-1]["content"] == "ok"


def test_a_checkpoint_thread_that_cannot_start_stops_the_run_and_keeps_the_request(session_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sid = models.new_session(title="t").session_id

    def no_thread(self: streaming.Checkpointer) -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(streaming.Checkpointer, "start", no_thread)
    agent = Agent(StepProvider(say("never", delay=0.05)), None)
    with pytest.raises(RuntimeError):
        drive(streaming.Run(sid, "keep me"), agent, Recorder())
    saved = on_disk(sid)
    assert saved["active_stream_id"] is None and not streaming.ACTIVE_RUNS
    assert saved["messages"][0]["content"] == "keep me" and saved["messages"][-1]["kind"] == "error"


def test_a_mark_that_is_a_symlink_is_not_followed(session_dir: Path, tmp_path: Path) -> None:
    """A run never creates a file where a planted ``<id>.running`` link points; it
    stops with the sessions folder named, and nothing is left pending."""
    sid = models.new_session(title="t").session_id
    target = tmp_path / "elsewhere"
    (session_dir / f"{sid}{runmarks.SUFFIX}").symlink_to(target)
    run = streaming.Run(sid, "hi")
    with pytest.raises(models.SessionWriteError) as err:
        run.start()
    assert str(session_dir) in str(err.value)
    assert not target.exists()
    assert on_disk(sid)["active_stream_id"] is None
    assert not row_of(sid).pending
