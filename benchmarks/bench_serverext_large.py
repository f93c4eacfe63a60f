"""A large session served by a real ``jupyter server``: does the server stay responsive?

Run: ``python benchmarks/bench_serverext_large.py`` (about a minute; it builds a
~25 MB session of 100,000 messages and starts a ``jupyter server`` on 127.0.0.1).
To measure another checkout, put it first: ``PYTHONPATH=/path/to/it python ...``.

Target: ``GET /api/status`` answers within 1 s while any of the extension's routes
serves that session (every kernel and save of the server waits on the same loop).
Printed, for each route: how long the route took, the worst and median latency of
``/api/status`` polled meanwhile (every 50 ms from another thread), and the server's
peak resident memory during the route (``VmHWM``, reset before each route).
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from server_harness import Server  # noqa: E402

MESSAGES = 100_000
NOTEBOOK = "work/analysis.ipynb"
SID = "big_session_0001"
POLL = 0.05


def _build(root: Path) -> int:
    """The session file: 25,000 turns of request, tool call, result and answer."""
    folder = root / "work" / ".hermes_nb" / "sessions"
    folder.mkdir(parents=True)
    (root / NOTEBOOK).write_text("{}")
    messages = []
    for n in range(MESSAGES // 4):
        code = json.dumps({"code": f"df{n} = load('part{n}.csv')\nprint(df{n}.describe())"})
        messages += [
            {"role": "user", "content": f"Question {n}: summarise part {n} of the data set.", "run_id": f"r{n:06d}"},
            {"role": "assistant", "content": "", "tool_calls": [
                {"id": f"c{n}", "type": "function", "function": {"name": "python", "arguments": code}},
            ]},
            {"role": "tool", "tool_call_id": f"c{n}", "content": "count 120\nmean 3.4\nstd 1.2\nmin 0.1\nmax 9.9\n" * 9},
            {"role": "assistant", "content": f"Part {n} has **120** rows; the mean is 3.4 and the spread is small; nothing stands out in this part of the data."},
        ]  # fmt: skip
    data = {
        "session_id": SID, "title": "A long analysis", "notebook": "analysis.ipynb",
        "model": "replay:x", "created_at": 1_700_000_000, "updated_at": 1_700_000_001,
        "messages": messages,
    }  # fmt: skip
    path = folder / f"{SID}.json"
    path.write_text(json.dumps(data))
    return path.stat().st_size


def _rss(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def _reset_peak(pid: int) -> None:
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        pass


def _route(server: Server, path: str) -> tuple[float, int, int, list[float]]:
    """(route seconds, status, body bytes, /api/status latencies meanwhile)."""
    latencies: list[float] = []
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            start = time.perf_counter()
            server.request("api/status", timeout=120)
            latencies.append(time.perf_counter() - start)
            done.wait(POLL)

    poller = threading.Thread(target=poll)
    poller.start()
    time.sleep(0.2)  # a few polls before the route starts
    start = time.perf_counter()
    status, _, body = server.request(path, timeout=600)
    took = time.perf_counter() - start
    done.set()
    poller.join()
    return took, status, len(body), latencies


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "served"
        size = _build(root)
        print(f"session: {MESSAGES:,} messages, {size / 1e6:.1f} MB")
        server = Server(root)
        server.start()
        try:
            assert server.proc is not None
            pid = server.proc.pid
            print(f"server idle RSS: {_rss(pid, 'VmRSS') / 1e6:.0f} MB")
            q = f"?notebook={NOTEBOOK}"
            routes = {
                "list": f"hermes-nb/sessions{q}",
                "session": f"hermes-nb/sessions/{SID}{q}",
                "run": f"hermes-nb/sessions/{SID}/runs/r{MESSAGES // 4 - 1:06d}{q}",
                "interrupted": f"hermes-nb/interrupted{q}",
                "export md": f"hermes-nb/sessions/{SID}/export{q}&format=md",
                "export json": f"hermes-nb/sessions/{SID}/export{q}&format=json",
            }
            print(f"{'route':<12} {'status':>6} {'took s':>7} {'body MB':>8} "
                  f"{'status worst s':>15} {'median s':>9} {'peak RSS MB':>12}")  # fmt: skip
            worst_all: list[float] = []
            for name, path in routes.items():
                _reset_peak(pid)
                took, status, length, lat = _route(server, path)
                worst_all.extend(lat)
                print(
                    f"{name:<12} {status:>6} {took:>7.2f} {length / 1e6:>8.2f} "
                    f"{max(lat):>15.3f} {statistics.median(lat):>9.3f} "
                    f"{_rss(pid, 'VmHWM') / 1e6:>12.0f}"
                )
            print(f"/api/status over all routes: worst {max(worst_all):.3f} s, "
                  f"median {statistics.median(worst_all):.3f} s (target: worst < 1 s)")  # fmt: skip
        finally:
            server.stop()


if __name__ == "__main__":
    main()
