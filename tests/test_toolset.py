"""The tools a run offers: the built-in ones are built once per kernel, and a change
(``@tool`` functions, MCP servers, policies, the shell timeout, the notebook's
folder, the namespace) still shows at the next run."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from mcp_harness import SERVER
from notebook_shell import (
    Notebook,
)

from hermes_nb.agent.providers.replay import ReplayProvider
from hermes_nb.agent.tools import registry
from hermes_nb.kernel.toolset import Toolset
from hermes_nb.mcp.manager import manager


@pytest.fixture(autouse=True)
def own_user_tools(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "USER_TOOLS", registry.ToolRegistry())


def offered(replays: list[ReplayProvider]) -> dict[str, dict[str, Any]]:
    """The tools of the latest request, by name."""
    latest = [request for p in replays for request in p.tools][-1]
    return {t["function"]["name"]: t["function"] for t in latest}


def tool_results(nb: Notebook) -> list[str]:
    return [m["content"] for m in nb.on_disk()["messages"] if m["role"] == "tool"]


class Shell:
    def __init__(self) -> None:
        self.user_ns: dict[str, Any] = {}


# -- in a shell, run after run ------------------------------------------------------------


def test_the_builtin_tools_are_built_once_and_offered_every_run(nb: Notebook, replays: list[ReplayProvider]) -> None:
    nb.use_script("One.", "Two.")
    nb.run("%%agent\nFirst.").ok()
    first = offered(replays)
    nb.run("%%agent\nSecond.").ok()
    assert offered(replays) == first
    assert {"python", "read_file", "list_files", "write_file", "shell", "insert_cell", "read_notebook"} <= set(first)
    assert nb.magics.toolset().builds == 1


def test_a_tool_decorated_changed_or_removed_between_runs_shows_at_the_next(
    nb: Notebook, replays: list[ReplayProvider]
) -> None:
    nb.use_script("a", "b", "c", "d")
    nb.run("%%agent\nBefore.").ok()
    assert "double" not in offered(replays)
    nb.run('import hermes_nb\n@hermes_nb.tool\ndef double(x: int) -> int:\n    """Twice x."""\n    return 2 * x').ok()
    nb.run("%%agent\nAfter.").ok()
    assert offered(replays)["double"]["description"] == "Twice x."
    nb.run('@hermes_nb.tool\ndef double(x: float, y: float = 1.0) -> float:\n    """x times two."""\n    return 2 * x').ok()
    nb.run("%%agent\nChanged.").ok()
    changed = offered(replays)["double"]
    assert changed["description"] == "x times two."
    assert changed["parameters"]["properties"]["x"]["type"] == "number" and "y" in changed["parameters"]["properties"]
    registry.USER_TOOLS.unregister("double")
    nb.run("%%agent\nRemoved.").ok()
    assert "double" not in offered(replays)
    assert nb.magics.toolset().builds == 1


def test_a_policy_changed_between_runs_applies(nb: Notebook) -> None:
    shell_call = {"tool_calls": [{"name": "shell", "arguments": {"command": "echo from-the-shell"}}]}
    nb.run('%config AgentMagics.tool_policies = {"shell": "deny"}').ok()
    nb.use_script(shell_call, "Denied.", shell_call, "Ran.")
    nb.run("%%agent\nRun it.").ok()
    assert "from-the-shell" not in tool_results(nb)[-1]
    nb.run('%config AgentMagics.tool_policies = {"shell": "allow"}').ok()
    nb.run("%%agent\nRun it again.").ok()
    assert "exit code: 0" in tool_results(nb)[-1] and "from-the-shell" in tool_results(nb)[-1]


def test_a_changed_shell_timeout_applies_at_the_next_run(nb: Notebook) -> None:
    nb.run('%config AgentMagics.tool_policies = {"shell": "allow"}').ok()
    sleep = {"tool_calls": [{"name": "shell", "arguments": {"command": "sleep 5"}}]}
    nb.use_script("Hello.", sleep, "Stopped.")
    nb.run("%%agent\nHello.").ok()  # the tools are built with the default timeout
    nb.run("%config AgentMagics.shell_timeout = 0.3").ok()
    nb.run("%%agent\nSleep.").ok()
    assert tool_results(nb)[-1].startswith("Timed out after 0.3 s")
    assert nb.magics.toolset().builds == 2


@pytest.mark.slow
def test_an_mcp_server_configured_between_runs_is_offered_at_the_next(
    nb: Notebook, replays: list[ReplayProvider]
) -> None:
    try:
        nb.use_script("No server yet.", "With the server.", "Without it again.")
        nb.run("%%agent\nHello.").ok()
        assert not any(name.startswith("t__") for name in offered(replays))
        servers = {"t": {"command": sys.executable, "args": [SERVER]}}
        nb.run(f"%config AgentMagics.mcp_servers = {servers!r}").ok()
        nb.run("%%agent\nHello again.").ok()
        assert {"t__echo", "t__add"} <= set(offered(replays))
        nb.run("%config AgentMagics.mcp_servers = {}").ok()
        nb.run("%%agent\nAnd again.").ok()
        assert not any(name.startswith("t__") for name in offered(replays))
        assert nb.magics.toolset().builds == 1
    finally:
        manager().shutdown()


# -- the cache itself ---------------------------------------------------------------------


def test_each_run_gets_its_own_registry() -> None:
    tools = Toolset()
    shell = Shell()
    kwargs: dict[str, Any] = {
        "shell_timeout": 60.0,
        "root": None,
        "mcp_servers": {},
        "mcp_folder": Path.cwd(),
        "mcp_timeout": 5.0,
        "mcp_start_timeout": 5.0,
    }
    first, _ = tools.for_run(shell, **kwargs)
    first.register(lambda: "x", name="only_in_the_first")
    second, _ = tools.for_run(shell, **kwargs)
    assert "only_in_the_first" not in second and "python" in second
    assert tools.builds == 1


def test_a_new_notebook_folder_moves_where_the_file_tools_run_unasked(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    tools, shell = Toolset(), Shell()
    in_a = {"path": str(a / "data.csv")}
    read_a = tools.fixed(shell, shell_timeout=60.0, root=a).get("read_file")
    assert read_a is not None and read_a.stays_inside(in_a)
    read_b = tools.fixed(shell, shell_timeout=60.0, root=b).get("read_file")
    assert read_b is not None and not read_b.stays_inside(in_a)
    assert tools.builds == 2
    assert tools.fixed(shell, shell_timeout=60.0, root=b) is tools.fixed(shell, shell_timeout=60.0, root=b)


def test_a_replaced_namespace_gets_a_python_tool_of_its_own() -> None:
    tools, shell = Toolset(), Shell()
    old = shell.user_ns
    python = tools.fixed(shell, shell_timeout=60.0, root=None).get("python")
    assert python is not None
    python.call({"code": "x = 1"})
    shell.user_ns = {}
    python = tools.fixed(shell, shell_timeout=60.0, root=None).get("python")
    assert python is not None
    python.call({"code": "y = 2"})
    assert old.get("x") == 1 and "y" not in old and shell.user_ns.get("y") == 2
