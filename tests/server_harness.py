"""A real ``jupyter server`` process with the hermes_nb extension, for HTTP tests and
benchmarks: started on 127.0.0.1 with a token, on a port it picks itself (see
``jupyter_harness``), asked with ``urllib``."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from jupyter_harness import PORT_ARGS, start_jupyter, stop_process

__all__ = ["Q", "SERVED_NOTEBOOK", "Server", "free_port"]

#: the notebook the server-extension tests serve, and the query naming it
SERVED_NOTEBOOK = "work/analysis.ipynb"
Q = "?notebook=" + SERVED_NOTEBOOK


def free_port() -> int:
    """A port that was free a moment ago (another process may take it before it is
    used): only for servers that cannot pick their own and report it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """A jupyter server process serving ``root``."""

    def __init__(
        self, root: Path, extra_args: tuple[str, ...] = (), env: dict[str, str] | None = None
    ) -> None:
        self.root = root
        self.extra_args = extra_args
        self.env = env or {}
        self.token = secrets.token_hex(16)
        self.port = 0  # the server picks it; known once ``start`` returned
        self.base = ""
        self.log = root.parent / f"server-{root.name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {
            **os.environ,
            "JUPYTER_CONFIG_DIR": str(self.root.parent / "jupyter-config"),
            "JUPYTER_RUNTIME_DIR": str(self.root.parent / "jupyter-runtime"),
            **self.env,
        }
        runtime = Path(env["JUPYTER_RUNTIME_DIR"])
        cmd = [
            sys.executable, "-m", "jupyter_server", "--no-browser",
            f"--ServerApp.root_dir={self.root}", "--ServerApp.ip=127.0.0.1", *PORT_ARGS,
            f"--IdentityProvider.token={self.token}",
            "--ServerApp.jpserver_extensions={'hermes_nb': True}", "--allow-root",
            *self.extra_args,
        ]  # fmt: skip

        def ready(port: int) -> bool:
            self.port, self.base = port, f"http://127.0.0.1:{port}/"
            return self.request("api/status")[0] == 200

        try:
            # cwd: not the checkout (``-m`` puts the cwd first on sys.path)
            self.proc, _ = start_jupyter(
                cmd, runtime_dir=runtime, log=self.log, ready=ready, timeout=60, env=env, cwd=self.root
            )
        except RuntimeError as err:
            raise AssertionError(str(err)) from None

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)

    def request(
        self,
        path: str,
        *,
        method: str = "GET",
        token: bool = True,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        timeout: float = 30,
    ) -> tuple[int, dict[str, str], bytes]:
        req = urllib.request.Request(
            self.base + path, data=body, method=method, headers=dict(headers or {})
        )
        if token:
            req.add_header("Authorization", f"token {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as err:
            return err.code, dict(err.headers), err.read()

    def get_json(self, path: str) -> Any:
        status, _, body = self.request(path)
        assert status == 200, (status, body)
        return json.loads(body)
