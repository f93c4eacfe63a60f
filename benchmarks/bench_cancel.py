"""Cancel latency and per-token cost of the agent loop, with the replay provider.

Run: ``python benchmarks/bench_cancel.py`` (a few seconds).

Targets:
* cancel mid-text, mid-tool (a tool that ignores cancel) and mid-``shell`` command:
  the run returns within 0.5 s of the cancel, every time;
* the loop adds little per streamed token (events + TurnState updates), reported in
  microseconds per token next to the bare replay stream.
"""

from __future__ import annotations

import statistics
import threading
import time
from typing import Any

from hermes_nb.agent.loop import Agent, TurnResult
from hermes_nb.agent.providers.replay import ReplayProvider
from hermes_nb.agent.tools import ToolRegistry, builtin_tools
from hermes_nb.agent.turn import TurnState

TARGET = 0.5
ROUNDS = 20


def _stuck() -> str:
    """A tool that never looks at the cancel signal."""
    time.sleep(5)
    return "late"


def _cancel_latency(replies: list[Any], tools: ToolRegistry | None, after: float) -> float:
    """Seconds between setting cancel and ``run`` returning."""
    agent = Agent(ReplayProvider(script={"replies": replies}), tools, policies={"shell": "allow"})
    cancel = threading.Event()
    box: list[TurnResult] = []
    worker = threading.Thread(
        target=lambda: box.append(agent.run([], "go", lambda e: None, cancel, TurnState()))
    )
    worker.start()
    time.sleep(after)
    cancelled_at = time.perf_counter()
    cancel.set()
    worker.join(10)
    elapsed = time.perf_counter() - cancelled_at
    assert box and box[0].stop_reason == "cancelled", box
    return elapsed


def _report(name: str, samples: list[float]) -> bool:
    worst = max(samples)
    ok = worst < TARGET
    print(
        f"{name:<28} median {statistics.median(samples) * 1000:6.1f} ms   "
        f"worst {worst * 1000:6.1f} ms   {'OK' if ok else 'MISSED'} (< {TARGET * 1000:.0f} ms)"
    )
    return ok


def _per_token() -> None:
    n = 20_000
    provider = ReplayProvider(script={"replies": [{"chunks": ["tok "] * n}]})
    start = time.perf_counter()
    for _ in provider.stream([{"role": "user", "content": "x"}], [], threading.Event()):
        pass
    bare = time.perf_counter() - start
    count = [0]

    def sink(_: Any) -> None:
        count[0] += 1

    start = time.perf_counter()
    Agent(provider).run([], "x", sink, threading.Event(), TurnState())
    loop = time.perf_counter() - start
    print(
        f"{n} tokens: bare stream {bare * 1000:.1f} ms, through the loop {loop * 1000:.1f} ms "
        f"({(loop - bare) / n * 1e6:.2f} us/token added, {count[0]} events)"
    )


def main() -> int:
    stuck = ToolRegistry()
    stuck.register(_stuck, name="stuck")
    text = [{"chunks": ["word "] * 1000, "delay": 0.01}]
    tool = [{"tool_calls": [{"name": "stuck", "arguments": {}}]}]
    shell = [{"tool_calls": [{"name": "shell", "arguments": {"command": "sleep 30"}}]}]
    ok = True
    ok &= _report("cancel mid-text", [_cancel_latency(text, None, 0.1) for _ in range(ROUNDS)])
    ok &= _report("cancel mid-tool (stuck tool)", [_cancel_latency(tool, stuck, 0.1) for _ in range(ROUNDS)])
    ok &= _report("cancel mid-shell", [_cancel_latency(shell, builtin_tools(), 0.2) for _ in range(5)])
    _per_token()
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
