"""A real ``jupyter server`` process with the hermes_nb extension, for HTTP tests and
benchmarks: started on 127.0.0.1 with a token, asked with ``urllib``."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

__all__ = ["Server", "free_port"]


def free_port() -> int:
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
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}/"
        self.log = root.parent / f"server-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {
            **os.environ,
            "JUPYTER_CONFIG_DIR": str(self.root.parent / "jupyter-config"),
            "JUPYTER_RUNTIME_DIR": str(self.root.parent / "jupyter-runtime"),
            **self.env,
        }
        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "jupyter_server", "--no-browser",
                f"--ServerApp.root_dir={self.root}", "--ServerApp.ip=127.0.0.1",
                f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
                f"--IdentityProvider.token={self.token}",
                "--ServerApp.jpserver_extensions={'hermes_nb': True}", "--allow-root",
                *self.extra_args,
            ],
            stdout=self.log.open("wb"), stderr=subprocess.STDOUT, env=env,
            cwd=self.root,  # not the checkout: ``-m`` puts the cwd first on sys.path
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("jupyter server exited:\n" + self.log.read_text())
            try:
                if self.request("api/status")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError("jupyter server did not start:\n" + self.log.read_text())

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

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
