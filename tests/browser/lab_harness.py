"""A real ``jupyter lab`` on 127.0.0.1 in a temporary root, and helpers to drive it
from Playwright (Debian's chromium, never a downloaded browser)."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from jupyter_harness import PORT_ARGS, start_jupyter  # noqa: E402

CHROMIUM = os.environ.get("HERMES_NB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).parent / "screenshots"
# JupyterLab's settings for the test: no news or update checks (the machine is offline)
# and no widget state in saved notebooks (as by default), so a reopened notebook has none.
SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}


@dataclass
class LabServer:
    """One ``jupyter lab`` process serving ``root``."""

    root: Path
    port: int
    token: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        sep = "&" if "?" in path else "?"
        return f"{self.base}/{path.lstrip('/')}{sep}token={self.token}"

    def api(self, path: str) -> Any:
        """GET a server URL with the token; the decoded JSON."""
        request = urllib.request.Request(
            f"{self.base}/{path.lstrip('/')}", headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read().decode())

    def kernel_pid(self, notebook: str) -> int:
        """The process id of the kernel behind ``notebook`` (its connection file names it)."""
        sessions = self.api("api/sessions")
        kernel_id = next(s["kernel"]["id"] for s in sessions if s["path"] == notebook)
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if f"kernel-{kernel_id}.json" in cmdline and "ipykernel" in cmdline:
                return int(proc.name)
        raise LookupError(f"no process for kernel {kernel_id}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_lab(
    root: Path, home: Path, timeout: float = 120.0, env_extra: dict[str, str] | None = None
) -> LabServer:
    """Start ``jupyter lab`` with its own config, data, runtime and settings folders."""
    settings_dir = home / "lab-settings"
    for name, value in SETTINGS.items():
        target = settings_dir / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(value))
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(settings_dir),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
        "IPYTHONDIR": str(home / "ipython"),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("HERMES_NB_MODEL", None)
    env.update(env_extra or {})
    token = secrets.token_hex(16)
    log = home / "lab.log"
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--allow-root",
        "--ServerApp.ip=127.0.0.1",
        *PORT_ARGS,
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--LabApp.expose_app_in_browser=True",
        "--JupyterNotebookApp.expose_app_in_browser=True",  # Notebook 7's /notebooks/ pages
        "--LabApp.news_url=",
        "--ServerApp.jpserver_extensions=hermes_nb=True",
    ]

    def ready(port: int) -> bool:
        request = urllib.request.Request(f"http://127.0.0.1:{port}/api/status", headers={"Authorization": f"token {token}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status == 200

    process, port = start_jupyter(
        cmd, runtime_dir=home / "runtime", log=log, ready=ready, timeout=timeout, cwd=root, env=env
    )
    return LabServer(root=root, port=port, token=token, process=process, log=log)


def chromium_available() -> bool:
    return Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is not None


def replay_setup(script: str) -> str:
    """The first cell of a test notebook: hermes_nb loaded, answering from ``script``
    (the replay model, a JSON file beside the notebook)."""
    return f'%load_ext hermes_nb\n%config AgentMagics.model = "replay:{script}"'


def write_notebook(path: Path, cells: list[str]) -> None:
    """A notebook of code cells (not run)."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    nbformat.write(nb, str(path))


# -- page helpers (``page`` is a playwright.sync_api.Page) ------------------------------

KERNEL_IDLE = """() => {
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  return !!k && k.status === 'idle' && k.connectionStatus === 'connected';
}"""


def command(page: Any, name: str, args: dict[str, Any] | None = None, wait: bool = False) -> Any:
    """Run a JupyterLab command through the app object the page exposes; with ``wait``,
    until it finishes (``notebook:run-all-cells`` finishes when every cell has run)."""
    script = "([name, args]) => window.jupyterapp.commands.execute(name, args)"
    if not wait:
        script = "([name, args]) => { void window.jupyterapp.commands.execute(name, args); return null; }"
    return page.evaluate(script, [name, args or {}])


def open_notebook(page: Any, server: LabServer, name: str, timeout: float = 120.0) -> None:
    """Open ``name`` in the lab page and wait for an idle kernel."""
    if "/lab" not in page.url:
        page.goto(server.url(f"lab/tree/{name}?reset"))  # a fresh workspace per page
        page.wait_for_function("() => !!window.jupyterapp", timeout=timeout * 1000)
    else:
        command(page, "docmanager:open", {"path": name}, wait=True)
    page.wait_for_function(
        "(name) => { const w = window.jupyterapp.shell.currentWidget;"
        " return !!w && !!w.context && w.context.path === name && !!w.content.widgets.length; }",
        arg=name,
        timeout=timeout * 1000,
    )
    wait_kernel_idle(page, timeout)


def open_notebook7(page: Any, server: LabServer, name: str, timeout: float = 120.0) -> None:
    """Open ``name`` in Notebook 7 (the ``/notebooks/`` page of the same server) and
    wait for an idle kernel."""
    page.goto(server.url(f"notebooks/{name}"))
    page.wait_for_function("() => !!window.jupyterapp", timeout=timeout * 1000)
    page.wait_for_function(
        "(name) => { const w = window.jupyterapp.shell.currentWidget;"
        " return !!w && !!w.context && w.context.path === name && !!w.content.widgets.length; }",
        arg=name,
        timeout=timeout * 1000,
    )
    wait_kernel_idle(page, timeout)


def wait_kernel_idle(page: Any, timeout: float = 120.0) -> None:
    page.wait_for_function(KERNEL_IDLE, timeout=timeout * 1000, polling=250)


def accept_dialogs(page: Any) -> int:
    """Press the default button of any open dialog (e.g. "Kernel Restarting"); how many."""
    pressed = 0
    for _ in range(5):
        button = page.locator(".jp-Dialog .jp-Dialog-button.jp-mod-accept")
        if button.count() == 0:
            break
        try:
            button.first.click(timeout=2000)
            pressed += 1
        except Exception:
            break
        page.wait_for_timeout(300)
    return pressed


def shot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path
