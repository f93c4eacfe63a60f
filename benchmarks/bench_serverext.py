"""Server extension figures: listing a notebook's sessions among 1,000.

Run: ``python benchmarks/bench_serverext.py`` (about half a minute: it starts a
``jupyter server`` on 127.0.0.1).

Target: a list request costs the server < 5 ms with 1,000 sessions. Printed:
* the handler's logic alone (``api.list_sessions``: cached rows, filter, status);
* the first call after the index changed (parse ``_index.json``);
* whole HTTP requests to a real server (includes tornado, auth, JSON encoding and the
  client's round trip), median and p95.
"""

from __future__ import annotations

import json
import os
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

from hermes_nb import index
from hermes_nb.serverext import api

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
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "jupyter_server", "--no-browser", f"--ServerApp.root_dir={root}",
            "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
            f"--IdentityProvider.token={token}", "--ServerApp.jpserver_extensions={'hermes_nb': True}", "--allow-root",
        ],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "JUPYTER_CONFIG_DIR": str(root / ".jupyter"), "JUPYTER_RUNTIME_DIR": str(root / ".runtime")},
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/hermes-nb/sessions?notebook={NOTEBOOK}"
    headers = {"Authorization": f"token {token}"}

    def get() -> bytes:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as r:
            return bytes(r.read())

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
    finally:
        proc.terminate()
        proc.wait(15)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _fill(root)
        index_file = root / "work" / ".hermes_nb" / "sessions" / "_index.json"
        print(f"{SESSIONS} sessions, index {index_file.stat().st_size:,} bytes")
        _report("handler logic, index unchanged (cached)", _times(lambda: api.list_sessions(root, NOTEBOOK), REPEAT))

        def after_change() -> None:
            os.utime(index_file)  # the index changed: parse it again
            api.list_sessions(root, NOTEBOOK)

        _report("handler logic, index just changed (parse)", _times(after_change, 50))
        _report("handler logic, all=1 (1,000 rows)", _times(lambda: api.list_sessions(root, NOTEBOOK, True), REPEAT))
        _http(root)


if __name__ == "__main__":
    main()
