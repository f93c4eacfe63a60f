"""Start a jupyter server (``jupyter_server``, ``jupyterlab``) on a port it picks itself.

Picking a free port first and passing it on leaves the port free while the server
starts (seconds on a busy machine), so another test can take it. The server is
started with ``--ServerApp.port=0`` instead and the port it chose is read back from
the ``jpserver-<pid>.json`` file it writes in its runtime folder. (jupyter_server
itself still binds that port a second time a moment later; should another process
take it in that moment, the server exits saying so and is started again.)
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["PORT_ARGS", "start_jupyter", "stop_process"]

#: the command-line options that let the server pick its port (never another one)
PORT_ARGS = ["--ServerApp.port=0", "--ServerApp.port_retries=0"]
_ATTEMPTS = 3


def start_jupyter(
    cmd: list[str],
    *,
    runtime_dir: Path,
    log: Path,
    ready: Callable[[int], bool],
    timeout: float = 120.0,
    **popen: Any,
) -> tuple[subprocess.Popen[bytes], int]:
    """Run ``cmd`` (which must include ``PORT_ARGS`` and use ``runtime_dir`` as its
    JUPYTER_RUNTIME_DIR), its output to ``log``; return the process and its port once
    ``ready(port)`` says the server answers. RuntimeError with the log's end if not."""
    for attempt in range(_ATTEMPTS):
        with log.open("wb") as out:
            process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, **popen)
        port = _serve(process, runtime_dir, ready, time.monotonic() + timeout)
        if port:
            return process, port
        stop_process(process)
        text = log.read_text(errors="replace")
        if "is already in use" not in text or attempt == _ATTEMPTS - 1:
            raise RuntimeError(f"the jupyter server did not start in {timeout:g} s: {text[-3000:]}")
    raise AssertionError("unreachable")


def _serve(process: subprocess.Popen[bytes], runtime_dir: Path, ready: Callable[[int], bool], deadline: float) -> int:
    """The port once the server answers on it; 0 if it exited or the deadline passed."""
    info = runtime_dir / f"jpserver-{process.pid}.json"
    port = 0
    while time.monotonic() < deadline and process.poll() is None:
        if not port:
            try:
                port = int(json.loads(info.read_text(encoding="utf-8"))["port"])
            except (OSError, ValueError, KeyError, TypeError):
                port = 0  # not written yet (or half written)
        if port:
            try:
                if ready(port):
                    return port
            except OSError:
                pass
        time.sleep(0.1)
    return 0


def stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)

