"""MCP: first-use start time of a stdio server, and the cost of one MCP call.

Run: ``python benchmarks/bench_mcp.py`` (half a minute). Uses the example server
``notebooks/mcp_servers/units.py``.

Figures (medians):
* importing the ``mcp`` SDK, paid once per kernel on the first run with a server;
* starting the server on first use: spawn (through the launcher that ties it to the
  kernel), handshake and tool listing, as ``%%agent`` does before its first request;
* one ``convert`` call through MCP (hermes_nb tool -> MCP loop thread -> stdio ->
  server -> back), next to calling the same function directly in this process, and
  the CPU the call costs the kernel's process (the rest is the server and waiting);
* the stop button during an MCP call the server never answers: time until the run
  has returned (the target is under a second);
* the launcher's share of a start (a small stdlib-only Python that ties the server's
  life to the kernel's).

Wall-clock figures depend on the machine's load, which is printed with them.
"""

from __future__ import annotations

import importlib.util
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
UNITS = ROOT / "notebooks" / "mcp_servers" / "units.py"
TEST_SERVER = ROOT / "tests" / "mcp_test_server.py"
STARTS = 7
CALLS = 300
CANCELS = 10


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:8.2f} ms"


def _cancel_latencies(n: int) -> list[float]:
    """Seconds from the cancel (the stop button) to the agent's return, during an MCP
    call the server never answers (the test server's ``hang``)."""
    from hermes_nb.agent.loop import Agent
    from hermes_nb.agent.providers.replay import ReplayProvider
    from hermes_nb.agent.tools.registry import ToolRegistry
    from hermes_nb.mcp.manager import McpManager
    from hermes_nb.mcp.settings import parse_server

    config = parse_server("t", {"command": sys.executable, "args": [str(TEST_SERVER)], "policy": "allow"})
    assert config is not None
    mgr = McpManager()
    tools = ToolRegistry(mgr.prepare({"t": config}, ROOT, call_timeout=3600, start_timeout=60).tools)
    script = {"replies": [{"tool_calls": [{"name": "t__hang", "arguments": {}}]}, "unused"]}
    latencies: list[float] = []
    for _ in range(n):
        agent = Agent(ReplayProvider(script=script), tools)
        cancel = threading.Event()
        returned: list[float] = []

        def play(agent: Agent = agent, cancel: threading.Event = cancel, returned: list[float] = returned) -> None:
            agent.run([], "go", lambda e: None, cancel)
            returned.append(time.perf_counter())

        worker = threading.Thread(target=play, daemon=True)
        worker.start()
        time.sleep(0.5)
        pressed = time.perf_counter()
        cancel.set()
        worker.join(30)
        latencies.append(returned[0] - pressed)
    mgr.shutdown()
    return latencies


def main() -> None:
    started = time.perf_counter()
    import mcp  # noqa: F401

    sdk_import = time.perf_counter() - started

    from hermes_nb.agent.tools.registry import ToolRegistry
    from hermes_nb.mcp.manager import McpManager
    from hermes_nb.mcp.settings import parse_server

    config = parse_server("units", {"command": sys.executable, "args": [str(UNITS)], "policy": "allow"})
    assert config is not None
    starts: list[float] = []
    for _ in range(STARTS):
        mgr = McpManager()
        t0 = time.perf_counter()
        prepared = mgr.prepare({"units": config}, ROOT, call_timeout=30, start_timeout=60)
        starts.append(time.perf_counter() - t0)
        assert not prepared.notices, prepared.notices
        mgr.shutdown()

    mgr = McpManager()
    prepared = mgr.prepare({"units": config}, ROOT, call_timeout=30, start_timeout=60)
    tool = ToolRegistry(prepared.tools).get("units__convert")
    assert tool is not None
    arguments = {"value": 3.5, "from_unit": "km", "to_unit": "mi"}
    for _ in range(20):  # warm up
        tool.call(arguments)
    via_mcp: list[float] = []
    cpu0 = time.process_time()
    for _ in range(CALLS):
        t0 = time.perf_counter()
        out = tool.call(arguments)
        via_mcp.append(time.perf_counter() - t0)
    client_cpu = (time.process_time() - cpu0) / CALLS
    mgr.shutdown()
    cancels = _cancel_latencies(CANCELS)

    spec = importlib.util.spec_from_file_location("units_direct", UNITS)
    assert spec is not None and spec.loader is not None
    units = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(units)
    direct: list[float] = []
    for _ in range(CALLS):
        t0 = time.perf_counter()
        value = units.convert(**arguments)
        direct.append(time.perf_counter() - t0)
    assert value == out.text, (value, out.text)

    from hermes_nb.mcp.connection import LAUNCHER

    launcher: list[float] = []
    bare: list[float] = []
    for _ in range(STARTS):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-I", "-S", LAUNCHER, str(os.getpid()), "true"], check=True)
        launcher.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        subprocess.run(["true"], check=True)
        bare.append(time.perf_counter() - t0)

    med_mcp, med_direct = statistics.median(via_mcp), statistics.median(direct)
    print(f"load average (1 min) during the run:    {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"mcp SDK import (once per kernel):        {_ms(sdk_import)}")
    print(f"stdio server first-use start (median of {STARTS}): {_ms(statistics.median(starts))}"
          f"   (min {_ms(min(starts)).strip()}, max {_ms(max(starts)).strip()})")
    print(f"one MCP tool call (median of {CALLS}):      {_ms(med_mcp)}")
    print(f"  of which CPU in this process (mean):  {_ms(client_cpu)}")
    print(f"same function called directly:          {_ms(med_direct)}")
    print(f"overhead of MCP per call:               {_ms(med_mcp - med_direct)}")
    print(f"stop button -> run returned (median of {CANCELS}): {_ms(statistics.median(cancels))}"
          f"   (max {_ms(max(cancels)).strip()})")
    print(f"the launcher's share of a start:        {_ms(statistics.median(launcher) - statistics.median(bare))}")


if __name__ == "__main__":
    main()
