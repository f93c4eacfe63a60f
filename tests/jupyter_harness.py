"""A real jupyter server for the tests, on a port it picks itself.

``Server`` is a ``jupyter server`` with hermes_nb's server extension on 127.0.0.1 and
a token; ``start_jupyter`` starts any jupyter server command (JupyterLab too).

Picking a free port first and passing it on leaves the port free while the server
starts (seconds on a busy machine), so another test can take it. The server is
started with ``--ServerApp.port=0`` instead and the port it chose is read back from
the ``jpserver-<pid>.json`` file it writes in its runtime folder. (jupyter_server
itself still binds that port a second time a moment later; should another process
take it in that moment, the server exits saying so and is started again.)
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["PORT_ARGS", "Server", "start_jupyter"]

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
        _stop(process)
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


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


class Server:
    """A ``jupyter server`` process with hermes_nb's extension, serving ``root``.

    Its config and runtime folders are ``jupyter-config`` and ``jupyter-runtime``
    beside ``root``; ``port`` and ``base`` are known once ``start`` returned.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.token = secrets.token_hex(16)
        self.port = 0
        self.base = ""
        self.log = root.parent / f"server-{root.name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        runtime = self.root.parent / "jupyter-runtime"
        env = {
            **os.environ,
            "JUPYTER_CONFIG_DIR": str(self.root.parent / "jupyter-config"),
            "JUPYTER_RUNTIME_DIR": str(runtime),
        }
        cmd = [
            sys.executable, "-m", "jupyter_server", "--no-browser",
            f"--ServerApp.root_dir={self.root}", "--ServerApp.ip=127.0.0.1", *PORT_ARGS,
            f"--IdentityProvider.token={self.token}",
            "--ServerApp.jpserver_extensions={'hermes_nb': True}", "--allow-root",
        ]  # fmt: skip

        def ready(port: int) -> bool:
            self.port, self.base = port, f"http://127.0.0.1:{port}/"
            return self.request("api/status")[0] == 200

        try:
            self.proc, _ = start_jupyter(cmd, runtime_dir=runtime, log=self.log, ready=ready, timeout=60, env=env)
        except RuntimeError as err:
            raise AssertionError(str(err)) from None

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc)

    def request(
        self, path: str, *, method: str = "GET", token: bool = True, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        req = urllib.request.Request(self.base + path, method=method, headers=dict(headers or {}))
        if token:
            req.add_header("Authorization", f"token {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as err:
            return err.code, dict(err.headers), err.read()

    def get_json(self, path: str) -> Any:
        status, _, body = self.request(path)
        assert status == 200, (status, body)
        return json.loads(body)
