"""MCP in real kernels: a call through %%agent, and a SIGKILLed kernel leaves no server
behind and its interrupted MCP call is restored like any other tool call."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from kernel_harness import kernel, kernel_env, load, sessions
from mcp_harness import SERVER, alive
from sse_server import ServerProcess, text_reply, tool_reply
from waiting import wait_for

from hermes_nb.streaming import INTERRUPTED_RESULT

pytestmark = [pytest.mark.kernel, pytest.mark.slow]


def configure(k, pidfile: Path, policy: str = "allow") -> None:  # type: ignore[no-untyped-def]
    servers = {"t": {"command": sys.executable, "args": [SERVER], "policy": policy, "env": {"MCP_TEST_PIDFILE": str(pidfile)}}}
    out = k.run(f"%config AgentMagics.mcp_servers = {json.dumps(servers)}\n%config AgentMagics.mcp_start_wait = 60.0")
    assert out.status == "ok", out.text()


def pids(pidfile: Path) -> list[int]:
    return [int(p) for p in pidfile.read_text().split()] if pidfile.exists() else []


def test_an_mcp_tool_runs_in_a_kernel_and_percent_agent_mcp_lists_it(tmp_path: Path) -> None:
    pidfile = tmp_path / "pids.txt"
    replies = [tool_reply([("call_1", "t__add", {"a": 19, "b": 23})]), text_reply("The sum is 42.")]
    with ServerProcess(replies) as server, kernel(tmp_path, kernel_env(server, tmp_path)) as k:
        load(k)
        configure(k, pidfile)
        before = k.run("%agent mcp")
        assert "not started" in before.text(), before.text()
        done = k.run("%%agent\nAdd 19 and 23.", timeout=120)
        assert "The sum is 42." in done.text(), done.text()
        [saved] = sessions(tmp_path)
        assert {"role": "tool", "tool_call_id": "call_1", "content": "42"}.items() <= saved["messages"][2].items()
        listing = k.run("%agent mcp").text()
        assert "running" in listing and "t__add" in listing and "t__hang" in listing, listing
        [pid] = pids(pidfile)
        restarted = k.run("%agent mcp restart t").text()
        assert "Restarted t" in restarted, restarted
        assert wait_for(lambda: not alive(pid), 15, "the old server to stop")
        assert len(pids(pidfile)) == 2
    new = pids(pidfile)[-1]
    assert wait_for(lambda: not alive(new), 15, "the server to stop with the kernel")


def test_a_killed_kernel_leaves_no_server_and_its_mcp_call_is_restored_as_interrupted(tmp_path: Path) -> None:
    pidfile = tmp_path / "pids.txt"
    replies = [tool_reply([("call_1", "t__block", {})]), text_reply("Resumed.")]
    with ServerProcess(replies) as server, kernel(tmp_path, kernel_env(server, tmp_path)) as k:
        load(k)
        configure(k, pidfile)
        k.submit("%%agent\nBlock forever.")

        def pending_call() -> bool:
            return any(
                any(m.get("tool_calls") for m in s.get("pending_messages") or []) for s in sessions(tmp_path)
            )

        wait_for(pending_call, 60, "a checkpoint with the open MCP call")
        [pid] = pids(pidfile)
        assert alive(pid)
        k.kill()
        assert wait_for(lambda: not alive(pid), 10, "the server to die with the kernel")

        k.restart()
        notice = load(k)
        assert "interrupted" in notice.text(), notice.text()
        [saved] = sessions(tmp_path)
        results = [m for m in saved["messages"] if m.get("role") == "tool"]
        assert results == [{"role": "tool", "tool_call_id": "call_1", "content": INTERRUPTED_RESULT}]
        configure(k, pidfile)
        resumed = k.run("%agent resume", timeout=120)
        assert "Resumed." in resumed.text(), resumed.text()


def test_interrupting_the_kernel_cancels_an_mcp_call_and_keeps_the_server(tmp_path: Path) -> None:
    pidfile = tmp_path / "pids.txt"
    replies = [tool_reply([("call_1", "t__hang", {})]), text_reply("unused")]
    with ServerProcess(replies) as server, kernel(tmp_path, kernel_env(server, tmp_path)) as k:
        load(k)
        configure(k, pidfile)
        running = k.submit("%%agent\nWait for the server.")
        wait_for(lambda: pids(pidfile), 60, "the server to start")
        wait_for(
            lambda: any(any(m.get("tool_calls") for m in s.get("pending_messages") or []) for s in sessions(tmp_path)),
            60,
            "the MCP call to be under way",
        )
        k.interrupt()
        k.collect(running, timeout=60)
        [saved] = sessions(tmp_path)
        assert saved["active_stream_id"] is None
        results = [m["content"] for m in saved["messages"] if m.get("role") == "tool"]
        assert results == ["Cancelled by the user."]
        assert saved["messages"][-1]["kind"] == "cancelled"
        [pid] = pids(pidfile)
        assert alive(pid)  # the server is reused, not restarted, by the next run
        assert "running" in k.run("%agent mcp").text()
