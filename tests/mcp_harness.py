"""The MCP test server (``tests/mcp_test_server.py``) as the tests start it."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hermes_nb.agent.events import Event, ToolCompleted
from hermes_nb.agent.loop import Agent, TurnResult
from hermes_nb.agent.providers.replay import ReplayProvider
from hermes_nb.agent.tools import ToolRegistry
from hermes_nb.mcp.manager import Prepared

__all__ = ["SERVER", "alive", "call", "completed", "run_agent"]

#: the test server's script: ``[sys.executable, SERVER]`` serves stdio
SERVER = str(Path(__file__).with_name("mcp_test_server.py"))


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead for our purpose
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def run_agent(
    prepared: Prepared,
    replies: list[Any],
    approve: Callable[[str, dict[str, Any]], bool | None] | None = None,
    cancel: threading.Event | None = None,
) -> tuple[TurnResult, list[Event]]:
    agent = Agent(ReplayProvider(script={"replies": replies}), ToolRegistry(prepared.tools), approve=approve)
    events: list[Event] = []
    result = agent.run([], "go", events.append, cancel or threading.Event())
    return result, events


def call(name: str, **arguments: Any) -> dict[str, Any]:
    return {"text": "", "tool_calls": [{"name": name, "arguments": arguments}]}


def completed(events: list[Event]) -> list[ToolCompleted]:
    return [e for e in events if isinstance(e, ToolCompleted)]
