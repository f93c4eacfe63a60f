"""Runaway tools in a real kernel: memory and the time from the stop button to idle.

For each case the agent calls a tool that writes without end; after ``RUN_FOR``
seconds the kernel is interrupted (the stop button). Prints, per case:
- the kernel's peak memory growth (``ru_maxrss`` after minus before, measured after a
  first run has loaded the SDK and widgets; target < 100 MB);
- the time from the interrupt to the kernel's idle status (target < 1 s);
- the size of the tool result saved in the session.

Cases: ``python`` with ``while True: print(...)``, ``shell`` with ``yes`` (the shell
policy set to allow).

Run: ``python benchmarks/bench_runaway.py`` (about half a minute).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from kernel_harness import Kernel, kernel  # noqa: E402
from sse_server import ServerProcess, text_reply, tool_reply  # noqa: E402

RUN_FOR = 5.0
CASES = {
    "python print loop": ("python", {"code": "i = 0\nwhile True:\n    print('runaway line', i)\n    i += 1"}),
    "shell yes": ("shell", {"command": "yes"}),
}


def _sessions(folder: Path) -> list[dict[str, Any]]:
    files = sorted((folder / ".hermes_nb" / "sessions").glob("*.json"))
    return [json.loads(p.read_text()) for p in files if p.name != "_index.json"]


def _maxrss_kb(k: Kernel) -> int:
    out = k.run("import resource; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    return int(out.stdout.split()[-1])


def _case(name: str, tool: str, arguments: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "bench.ipynb").write_text("{}")
        replies = [text_reply("Ready."), tool_reply([("call_1", tool, arguments)]), text_reply("Stopped.")]
        with ServerProcess(replies) as server:
            env = {
                "OPENAI_API_KEY": "sk-test-not-a-real-key",
                "OPENAI_BASE_URL": server.url,
                "HERMES_NB_MODEL": "openai:test-model",
                "JPY_SESSION_NAME": str(folder / "bench.ipynb"),
            }
            with kernel(folder, env) as k:
                k.run(
                    "%load_ext hermes_nb\n%config AgentMagics.auto_title = False\n"
                    "%config AgentMagics.checkpoint_interval = 0.2\n"
                    "%config AgentMagics.tool_policies = {'shell': 'allow'}"
                )
                k.run("%%agent\nWarm up.")  # SDK, widgets and tools loaded before measuring
                before = _maxrss_kb(k)
                running = k.submit("%%agent\nRun it.")
                deadline = time.monotonic() + 30
                while not any(s.get("pending_messages") for s in _sessions(folder)):
                    if time.monotonic() > deadline:
                        raise RuntimeError("the tool call never started")
                    time.sleep(0.02)
                time.sleep(RUN_FOR)
                stopped = time.perf_counter()
                k.interrupt()
                k.collect(running, timeout=120)
                to_idle = time.perf_counter() - stopped
                after = _maxrss_kb(k)
                results = [m for s in _sessions(folder) for m in s["messages"] if m.get("tool_call_id") == "call_1"]
                size = len(results[0]["content"]) if results else 0
                first = results[0]["content"].splitlines()[0] if results else ""
    growth = (after - before) / 1024
    print(
        f"{name:<20} peak memory +{growth:7.1f} MB {'OK' if growth < 100 else 'MISSED'} (< 100 MB)   "
        f"stop -> idle {to_idle * 1000:6.0f} ms {'OK' if to_idle < 1 else 'MISSED'} (< 1000 ms)   "
        f"saved result {size:,} characters ({first[:40]!r}...)"
    )


def main() -> None:
    print(f"runaway tool stopped after {RUN_FOR:g} s, in a real kernel")
    for name, (tool, arguments) in CASES.items():
        _case(name, tool, arguments)


if __name__ == "__main__":
    main()
