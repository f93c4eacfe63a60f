"""Server extension figures: listing a notebook's sessions among 1,000.

Run: ``python benchmarks/bench_serverext.py`` (about half a minute: it starts a
``jupyter server`` on 127.0.0.1).

Target: a list request costs the server < 5 ms with 1,000 sessions. Printed:
* the handler's logic alone (``api.list_sessions_body``: the answer's text, kept while
  the index is unchanged and no run is pending);
* the same when the index just changed (parse ``_index.json``, filter, encode);
* whole HTTP requests to a real server: the time the server itself reports for each
  request (tornado's request time in its debug log: routing, auth, handler, write) and
  the client's round trip, median and p95.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from hermes_nb.serverext import api
from hermes_nb.store import index

SESSIONS = 1000
REPEAT = 300
NOTEBOOK = "work/analysis.ipynb"


def _fill(root: Path) -> None:
    folder = root / "work" / ".hermes_nb" / "sessions"
    folder.mkdir(parents=True)
    (root / NOTEBOOK).write_text("{}")
    for n in range(SESSIONS):
        messages = [
            {"role": "user", "content": f"Question {n}", "run_id": f"r{n}"},
            {"role": "assistant", "content": "The answer is **42**. " * 20},
        ]
        data = {
            "session_id": f"s{n:04d}", "title": f"Session {n}",
            "notebook": "analysis.ipynb" if n % 2 else "other.ipynb",
            "created_at": 1_700_000_000 + n, "updated_at": 1_700_000_000 + n, "messages": messages,
        }  # fmt: skip
        (folder / f"s{n:04d}.json").write_text(json.dumps(data))
    index.rebuild(folder / "_index.json", folder)


def _times(fn: Callable[[], object], repeat: int) -> list[float]:
    fn()
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def _report(label: str, times: list[float]) -> None:
    times = sorted(times)
    p95 = times[int(len(times) * 0.95) - 1]
    print(f"{label:<48} median {statistics.median(times):7.3f} ms   p95 {p95:7.3f} ms")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _http(root: Path) -> None:
    token, port = secrets.token_hex(16), _free_port()
    log = root / "server.log"
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "jupyter_server", "--no-browser", f"--ServerApp.root_dir={root}",
            "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
            f"--IdentityProvider.token={token}", "--ServerApp.jpserver_extensions={'hermes_nb': True}", "--allow-root",
            "--ServerApp.log_level=DEBUG",
        ],
        stdout=subprocess.DEVNULL, stderr=log.open("wb"),
        env={**os.environ, "JUPYTER_CONFIG_DIR": str(root / ".jupyter"), "JUPYTER_RUNTIME_DIR": str(root / ".runtime")},
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/hermes-nb/sessions?notebook={NOTEBOOK}"
    headers = {"Authorization": f"token {token}"}

    def get(target: str = url) -> bytes:
        with urllib.request.urlopen(urllib.request.Request(target, headers=headers), timeout=30) as r:
            return bytes(r.read())

    status_url = f"http://127.0.0.1:{port}/api/status"

    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                rows = json.loads(get())["sessions"]
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        print(f"HTTP list returns {len(rows)} rows ({len(get()):,} bytes)")
        _report("HTTP GET sessions (client round trip)", _times(get, REPEAT))
        _report("HTTP GET api/status, for comparison (round trip)", _times(lambda: get(status_url), REPEAT))
    finally:
        proc.terminate()
        proc.wait(15)
    served = [float(m) for m in re.findall(r"200 GET /hermes-nb/sessions\S* \([^)]*\) ([0-9.]+)ms", log.read_text())]
    _report(f"HTTP GET sessions (server's own time, {len(served)} requests)", served[-REPEAT:])
    status = [float(m) for m in re.findall(r"200 GET /api/status \([^)]*\) ([0-9.]+)ms", log.read_text())]
    _report("HTTP GET api/status (server's own time)", status[-REPEAT:])


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _fill(root)
        index_file = root / "work" / ".hermes_nb" / "sessions" / "_index.json"
        print(f"{SESSIONS} sessions, index {index_file.stat().st_size:,} bytes")
        _report("handler logic, index unchanged", _times(lambda: api.list_sessions_body(root, NOTEBOOK), REPEAT))

        def after_change() -> None:
            os.utime(index_file)  # the index changed: parse it again
            api.list_sessions_body(root, NOTEBOOK)

        _report("handler logic, index just changed (parse)", _times(after_change, 50))
        _report("handler logic, all=1 (1,000 rows)", _times(lambda: api.list_sessions_body(root, NOTEBOOK, True), REPEAT))
        _http(root)


if __name__ == "__main__":
    main()
