"""One run of the run lifecycle in this process, with a scripted provider and a
renderer that records: ``run_turn(StepProvider(say("Hi")), "hello")``."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

from disk_view import read_session
from PIL import Image

from hermes_nb import models, streaming
from hermes_nb.agent.events import Event
from hermes_nb.agent.images import ImageStore, ToolImage
from hermes_nb.agent.loop import Agent
from hermes_nb.agent.providers.base import Provider, TextDelta, ToolCallRequest, UsageChunk
from hermes_nb.agent.providers.replay import ReplayProvider
from hermes_nb.agent.tools import ToolOutput, ToolRegistry
from hermes_nb.agent.tools.builtin import builtin_tools
from hermes_nb.kernel.cell_loop import drive

__all__ = ["Recorder", "Step", "StepProvider", "call", "chart_agent", "on_disk", "png", "run_turn", "say"]


class Recorder:
    """A renderer that keeps what it was given."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.flushes = 0
        self.finished: str | None = None

    def start(self) -> None:
        pass

    def handle(self, event: Event) -> None:
        self.events.append(event)

    def flush(self) -> None:
        self.flushes += 1

    def finish(self, stop_reason: str) -> None:
        self.finished = stop_reason

    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]


Step = Callable[[list[dict[str, Any]], threading.Event], Iterator[Any]]


class StepProvider(Provider):
    """Each request runs the next step function, which yields chunks."""

    spec = "test:steps"
    generates_titles = False

    def __init__(self, *steps: Step) -> None:
        self.steps = list(steps)
        self.requests: list[list[dict[str, Any]]] = []

    def stream(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], cancel: threading.Event) -> Iterator[Any]:
        self.requests.append(messages)
        yield from self.steps[len(self.requests) - 1](messages, cancel)


def say(*parts: str, delay: float = 0.0) -> Step:
    def step(messages: list[dict[str, Any]], cancel: threading.Event) -> Iterator[Any]:
        for part in parts:
            if cancel.wait(delay) if delay else cancel.is_set():
                return
            yield TextDelta(part)
        yield UsageChunk(10, len(parts))

    return step


def call(name: str, **arguments: Any) -> Step:
    def step(messages: list[dict[str, Any]], cancel: threading.Event) -> Iterator[Any]:
        yield ToolCallRequest(f"call_{name}_{len(messages)}", name, json.dumps(arguments))

    return step


def on_disk(session_id: str) -> dict[str, Any]:
    return read_session(models.SESSION_DIR / f"{session_id}.json")


def run_turn(provider: Provider, text: str | None, session_id: str | None = None, ns: dict[str, Any] | None = None) -> tuple[streaming.Run, Recorder, Any]:
    sid = session_id or models.new_session(title="t", notebook="nb.ipynb").session_id
    agent = Agent(provider, builtin_tools(ns if ns is not None else {}), max_turns=5)
    run = streaming.Run(sid, text, checkpoint_interval=0.2)
    recorder = Recorder()
    outcome = drive(run, agent, recorder, flush_interval=0.01)
    return run, recorder, outcome


def png() -> bytes:
    """A small blue PNG."""
    buf = io.BytesIO()
    Image.new("RGB", (20, 10), (0, 90, 200)).save(buf, format="PNG")
    return buf.getvalue()


def chart_agent(provider: ReplayProvider, session_id: str) -> Agent:
    """An agent with one tool, ``chart``, that shows a figure (``png``)."""
    def chart() -> ToolOutput:
        return ToolOutput("[1 figure displayed]", images=(ToolImage(png()),))

    tools = ToolRegistry()
    tools.register(chart)
    return Agent(provider, tools, images=ImageStore(models.SESSION_DIR, session_id), vision=True)
