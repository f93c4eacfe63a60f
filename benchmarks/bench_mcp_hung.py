"""MCP: time to the first model request with one healthy and one hung server configured.

Run: ``python benchmarks/bench_mcp_hung.py`` (about a minute). A real kernel runs
``%%agent`` twice (then twice more in a fresh kernel, for a second sample) with two
stdio servers: ``tests/mcp_test_server.py`` (healthy) and a process that never answers
``initialize`` (hung). The model is the scripted HTTP server of the tests, which
notes when each request arrives; the figure is the time from sending the cell to
the model's first request, for the first run and the second.

With ``AgentMagics.mcp_start_wait`` (default 10 s) the first run waits for the servers
at most that long (the healthy one is usually up well before); the second run does
not wait for the hung one again. The start timeout (30 s) used to be the first run's
wait, and the next run's too.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from kernel_harness import kernel  # noqa: E402
from sse_server import ServerProcess, text_reply  # noqa: E402

SERVERS = {
    "healthy": {"command": sys.executable, "args": [str(ROOT / "tests" / "mcp_test_server.py")]},
    "hung": {"command": sys.executable, "args": ["-c", "import time; time.sleep(3600)"]},
}
KERNELS = 2


def one_kernel(folder: Path, wait: float | None) -> list[float]:
    """Seconds from sending each of two cells to the model's first request of that run."""
    (folder / "bench.ipynb").write_text("{}")
    seconds: list[float] = []
    with ServerProcess([text_reply("One."), text_reply("Two.")]) as server:
        env = {
            "OPENAI_API_KEY": "sk-bench-not-a-real-key",
            "OPENAI_BASE_URL": server.url,
            "HERMES_NB_MODEL": "openai:bench-model",
            "JPY_SESSION_NAME": str(folder / "bench.ipynb"),
            "JUPYTER_CONFIG_DIR": str(folder / "jupyter-config"),
            "PYTHONPATH": str(ROOT),
        }
        with kernel(folder, env) as k:
            setup = f"%load_ext hermes_nb\n%config AgentMagics.auto_title = False\n%config AgentMagics.mcp_servers = {json.dumps(SERVERS)}"
            if wait is not None:
                setup += f"\n%config AgentMagics.mcp_start_wait = {wait}"
            k.run(setup)
            k.run("import mcp")  # the SDK import is its own, once-per-kernel cost (bench_mcp.py)
            for i in range(2):
                sent = time.time()
                out = k.run(f"%%agent\nRun {i}.", timeout=180)
                assert out.status == "ok", out.text()
                at = server.requests()[i]["at"]
                seconds.append(at - sent)
    return seconds


def main() -> None:
    rows: list[tuple[str, list[float]]] = []
    for label, wait in (("default (mcp_start_wait = 10 s)", None), ("mcp_start_wait = 2 s", 2.0)):
        firsts, seconds = [], []
        for _ in range(KERNELS):
            with tempfile.TemporaryDirectory(prefix="hermes-bench-hung-") as tmp:
                first, second = one_kernel(Path(tmp), wait)
                firsts.append(first)
                seconds.append(second)
        rows.append((label, firsts + seconds))
        print(f"{label}:")
        print(f"  first run  -> first model request: {', '.join(f'{s:.2f} s' for s in firsts)}")
        print(f"  second run -> first model request: {', '.join(f'{s:.2f} s' for s in seconds)}")
    print(f"load average (1 min) at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
