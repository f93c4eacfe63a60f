"""The live view during a long ``python`` tool, in a real kernel.

Run: ``python benchmarks/bench_live_tool.py [--seconds 60] [--rate 10]``.

A ``%%agent`` cell (``replay:`` model) calls the ``python`` tool with code that prints
``--rate`` lines a second for ``--seconds`` seconds, each line stamped with the time it
was printed. Reading the kernel's iopub as a frontend would, it reports:

* widget (comm) messages per second while the tool runs: mean and the busiest
  second (the batching limit is ~25);
* the delay from a ``print`` to the first widget update that carries its line:
  median, p95, max (the view pump draws every ~80 ms);
* how many printed lines reached the view before the tool ended.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from kernel_harness import Kernel  # noqa: E402

LINE = re.compile(r"tick (\d+) at (\d+\.\d+)")


def tool_code(seconds: float, rate: float) -> str:
    count = int(seconds * rate)
    return (
        "import time\n"
        f"for i in range({count}):\n"
        "    print(f'tick {i} at {time.time():.4f}', flush=True)\n"
        f"    time.sleep({1.0 / rate!r})\n"
        "'finished'"
    )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def measure(seconds: float, rate: float) -> None:
    folder = Path(tempfile.mkdtemp(prefix="hermes_nb-bench-live-"))
    (folder / "bench.ipynb").write_text("{}")
    script = {
        "replies": [
            {"text": "Running it now.", "tool_calls": [{"name": "python", "arguments": {"code": tool_code(seconds, rate)}}]},
            "Done.",
        ]
    }
    (folder / "script.json").write_text(json.dumps(script))
    k = Kernel(folder, {"JPY_SESSION_NAME": str(folder / "bench.ipynb")})
    k.start()
    try:
        k.run('%load_ext hermes_nb\n%config AgentMagics.model = "replay:script.json"\n%config AgentMagics.auto_title = False')
        ex = k.run("%%agent\nRun it.", timeout=seconds * 3 + 120)
    finally:
        k.shutdown()
        shutil.rmtree(folder, ignore_errors=True)
    first_seen: dict[int, float] = {}
    printed: dict[int, float] = {}
    tool_start = tool_end = None
    for at, raw in ex.comm_log:
        data = json.loads(raw) or {}
        state = data.get("state") or {}
        value = str(state.get("value", ""))
        if "hermes-nb-live-output" in value:
            for number, stamp in LINE.findall(value):
                n = int(number)
                printed.setdefault(n, float(stamp))
                first_seen.setdefault(n, at)
        titles = " ".join(str(t) for t in state.get("titles") or ())
        if "python(" in titles and "running" in titles and tool_start is None:
            tool_start = at
        if "python(" in titles and "done" in titles:
            tool_end = at
    assert tool_start is not None and tool_end is not None, "the tool's card was not seen starting and ending"
    during = [at for at, _ in ex.comm_log if tool_start <= at < tool_end]
    span = tool_end - tool_start
    per_second = [sum(1 for t in during if a <= t < a + 1.0) for a in during] or [0]
    delays = [first_seen[n] - printed[n] for n in first_seen if first_seen[n] < tool_end]
    total = int(seconds * rate)
    print(f"tool: {seconds:g} s printing {rate:g} lines/s ({total} lines), call took {span:.1f} s")
    print(f"widget messages during the tool: {len(during)} ({len(during) / span:.1f}/s mean, busiest second {max(per_second)})")
    print(f"lines seen in the card before the tool ended: {len(delays)} of {total}")
    if delays:
        ms = [d * 1000 for d in delays]
        print(
            f"print -> widget update delay: median {statistics.median(ms):.0f} ms, "
            f"p95 {percentile(ms, 0.95):.0f} ms, max {max(ms):.0f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the tool runs (default 60)")
    parser.add_argument("--rate", type=float, default=10.0, help="lines printed per second (default 10)")
    args = parser.parse_args()
    measure(args.seconds, args.rate)


if __name__ == "__main__":
    main()
