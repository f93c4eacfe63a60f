"""The run's view is made once the request is on its way, and nothing is lost by that:
not an early notice, not a run that ends first, not a view that cannot be made."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from turn_harness import Recorder, StepProvider, call, on_disk, say

from hermes_nb import models, streaming
from hermes_nb.agent.events import Event, Notice
from hermes_nb.agent.loop import Agent
from hermes_nb.agent.providers.base import TextDelta
from hermes_nb.agent.tools.builtin import builtin_tools
from hermes_nb.kernel.cell_loop import drive
from hermes_nb.ui.state import TurnDisplay


class Maker:
    """Makes the run's Recorder, and says when."""

    def __init__(self) -> None:
        self.made = threading.Event()
        self.recorder = Recorder()

    def __call__(self) -> Recorder:
        self.made.set()
        return self.recorder


def run_with(provider: StepProvider, make: Callable[[], Any], **options: Any) -> tuple[str, Any]:
    sid = models.new_session(title="t", notebook="nb.ipynb").session_id
    outcome = drive(streaming.Run(sid, "Hi."), Agent(provider, None), make, flush_interval=0.01, **options)
    return sid, outcome


def test_the_view_is_made_after_the_request_is_sent(session_dir: Path) -> None:
    maker = Maker()
    seen: dict[str, bool] = {}

    def step(messages: list[dict[str, Any]], cancel: threading.Event) -> Iterator[Any]:
        seen["made when asked"] = maker.made.is_set()
        yield TextDelta("Hello.")

    sid, outcome = run_with(StepProvider(step), maker, view_delay=30.0)
    assert seen == {"made when asked": False}
    assert outcome.stop_reason == "complete"
    assert "token" in maker.recorder.kinds() and maker.recorder.finished == "complete"
    assert on_disk(sid)["messages"][-1]["content"] == "Hello."


def test_a_silent_server_does_not_keep_the_view_off_screen(session_dir: Path) -> None:
    maker = Maker()
    seen: dict[str, bool] = {}

    def step(messages: list[dict[str, Any]], cancel: threading.Event) -> Iterator[Any]:
        seen["shown while waiting"] = maker.made.wait(30)  # the model has said nothing yet
        yield TextDelta("At last.")

    run_with(StepProvider(step), maker, view_delay=0.05)
    assert seen == {"shown while waiting": True}
    assert maker.recorder.finished == "complete"


def test_a_notice_from_before_the_view_is_shown_in_it(session_dir: Path) -> None:
    maker = Maker()

    def prepare(run: streaming.Run, notify: Callable[[Event], None]) -> None:
        notify(Notice("Older turns were summarised."))

    run_with(StepProvider(say("Fine.")), maker, prepare=prepare)
    kinds = maker.recorder.kinds()
    assert kinds[0] == "notice" and "token" in kinds
    assert maker.recorder.events[0].text == "Older turns were summarised."  # type: ignore[union-attr]


def test_a_run_that_ends_before_its_view_is_shown_still_ends_in_it(session_dir: Path) -> None:
    maker = Maker()
    sid = models.new_session(title="t", notebook="nb.ipynb").session_id
    run = streaming.Run(sid, "Never asked.")
    run.cancel_event.set()  # the agent ends at once, before any event
    outcome = drive(run, Agent(StepProvider(say("unused")), None), maker, view_delay=30.0)
    assert outcome.stop_reason == "cancelled"
    assert maker.made.is_set() and maker.recorder.finished == "cancelled"
    assert on_disk(sid)["active_stream_id"] is None


def test_a_view_that_cannot_be_made_leaves_the_request_saved_and_says_why(session_dir: Path) -> None:
    def broken() -> Recorder:
        raise RuntimeError("no display here")

    sid = models.new_session(title="t", notebook="nb.ipynb").session_id
    with pytest.raises(RuntimeError, match="no display here"):
        drive(streaming.Run(sid, "Keep me."), Agent(StepProvider(say("x", delay=0.2)), None), broken, view_delay=0.0)
    saved = on_disk(sid)
    assert saved["active_stream_id"] is None
    assert saved["messages"][0]["content"] == "Keep me."


class LiveRecorder(Recorder):
    """A renderer that can show what a running tool prints, and keeps it."""

    def __init__(self) -> None:
        super().__init__()
        self.state = TurnDisplay()
        self.printed: list[tuple[str, str, str]] = []

    def flush(self, force: bool = False) -> None:
        self.flushes += 1

    def show_tool_outputs(self, call_id: str, outputs: Any) -> None:
        pass

    def tool_output(self, call_id: str, stream: str, text: str) -> None:
        self.printed.append((call_id, stream, text))


def test_what_a_tool_prints_while_the_view_is_being_built_reaches_it(session_dir: Path, tmp_path: Path) -> None:
    flag = tmp_path / "printed"
    recorder = LiveRecorder()

    def slow_make() -> LiveRecorder:  # the tool starts and prints meanwhile
        deadline = time.monotonic() + 20
        while not flag.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.3)  # its output pipe is read
        return recorder

    sid = models.new_session(title="t", notebook="nb.ipynb").session_id
    agent = Agent(
        StepProvider(call("shell", command=f"echo early; touch {flag}; sleep 0.5; echo late"), say("Done.")),
        builtin_tools(),
        policies={"shell": "allow"},
    )
    outcome = drive(streaming.Run(sid, "Run it."), agent, slow_make, flush_interval=0.01)
    assert outcome.stop_reason == "complete"
    printed = "".join(text for _, _, text in recorder.printed)
    assert printed == "early\nlate\n"
    assert {call_id for call_id, _, _ in recorder.printed} == {"call_shell_1"}
