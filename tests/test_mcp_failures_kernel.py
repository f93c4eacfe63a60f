"""Stdio MCP servers that fail, in a real kernel: what they started is ended with them,
and what they print about themselves leaves no secret in the cell or the session."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
from kernel_harness import kernel, kernel_env, load, sessions
from mcp_harness import alive
from sse_server import ServerProcess, text_reply
from waiting import wait_for

pytestmark = [pytest.mark.kernel, pytest.mark.slow]

FORK_AND_FAIL = 'sleep 300 & echo $! >> "$1"; echo "cannot start: no database" >&2; exit 3'
TOKEN = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"


def configure(k, servers: dict[str, object]) -> None:  # type: ignore[no-untyped-def]
    out = k.run(f"%config AgentMagics.mcp_servers = {json.dumps(servers)}")
    assert out.status == "ok", out.text()


def child_pids(path: Path) -> list[int]:
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def test_a_failing_server_leaves_no_child_after_the_run_nor_after_the_kernel_is_killed(tmp_path: Path) -> None:
    pidfile = tmp_path / "children.txt"
    servers = {"forker": {"command": "sh", "args": ["-c", FORK_AND_FAIL, "sh", str(pidfile)]}}
    replies = [text_reply("First."), text_reply("Second.")]
    try:
        with ServerProcess(replies) as server, kernel(tmp_path, kernel_env(server, tmp_path)) as k:
            load(k)
            configure(k, servers)
            out = k.run("%%agent\nRun.", timeout=120).text()
            assert "First." in out and "did not start: cannot start: no database" in out, out
            assert len(child_pids(pidfile)) == 1
            assert wait_for(lambda: not any(alive(p) for p in child_pids(pidfile)), 10, "the child to end")
            retried = k.run("%agent mcp restart forker", timeout=120).text()  # a second start, now
            assert "cannot start: no database" in retried, retried
            assert len(child_pids(pidfile)) == 2
            assert wait_for(lambda: not any(alive(p) for p in child_pids(pidfile)), 10, "the children to end")
            out = k.run("%%agent\nAgain.", timeout=120).text()
            assert "Second." in out and "left out of this run" in out, out  # backing off: not started
            k.kill()
            assert not any(alive(p) for p in child_pids(pidfile))
    finally:
        for pid in child_pids(pidfile):  # never leave one behind, whatever failed
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_a_secret_a_failing_server_prints_is_not_in_the_cell_nor_the_session(tmp_path: Path) -> None:
    servers = {"leaky": {"command": "sh", "args": ["-c", 'echo "starting with GITHUB_TOKEN=$GITHUB_TOKEN" >&2; exit 1'],
                         "env": {"GITHUB_TOKEN": "${GITHUB_TOKEN}"}}}
    with ServerProcess([text_reply("Done.")]) as server:
        env = {**kernel_env(server, tmp_path), "GITHUB_TOKEN": TOKEN}
        with kernel(tmp_path, env) as k:
            load(k)
            configure(k, servers)
            ran = k.run("%%agent\nHello.", timeout=120)
            shown = ran.text() + ran.html() + json.dumps(ran.displays)
            assert "Done." in shown and "leaky" in shown and "GITHUB_TOKEN=***" in shown, shown
            assert TOKEN not in shown
            # the line outlives the run: it is in the transcript that replaces the live view
            assert ran.clears >= 1
            final = json.dumps(ran.displays[-1])
            assert "MCP server 'leaky' did not start" in final and "GITHUB_TOKEN=***" in final, final
            listing = k.run("%agent mcp").text()
            assert "GITHUB_TOKEN=***" in listing and TOKEN not in listing, listing
    [saved] = sessions(tmp_path)
    assert TOKEN not in json.dumps(saved)
    assert all(TOKEN not in p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file())
