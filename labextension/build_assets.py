"""Build the JupyterLab extension into ``hermes_nb/labextension`` during a package build.

Called by hatch-jupyter-builder (``[tool.hatch.build.hooks.jupyter-builder]`` in
pyproject.toml) for wheels, sdists and editable installs. Without Node.js and
npm the build says so and goes on without the extension, so the kernel side
still installs; with prebuilt assets that are up to date nothing is rebuilt.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

SOURCES = ("src", "style", "package.json", "package-lock.json", "tsconfig.json")


def _newest(paths: list[Path]) -> float:
    newest = 0.0
    for path in paths:
        if path.is_file():
            newest = max(newest, path.stat().st_mtime)
        elif path.is_dir():
            for sub in path.rglob("*"):
                if sub.is_file():
                    newest = max(newest, sub.stat().st_mtime)
    return newest


def _say(message: str) -> None:
    print(f"hermes_nb labextension: {message}", file=sys.stderr, flush=True)


def build(target_name: str, version: str, path: str = "labextension", **_: object) -> None:
    """Build the extension with npm when it is missing or older than its sources."""
    source = Path(path).resolve()
    output = source.parent / "hermes_nb" / "labextension"
    built = output / "package.json"
    if os.environ.get("HERMES_NB_SKIP_LABEXTENSION") == "1":
        _say("HERMES_NB_SKIP_LABEXTENSION=1: not building the JupyterLab extension")
        return
    have_sources = (source / "package.json").is_file()
    if built.is_file() and (
        not have_sources or built.stat().st_mtime >= _newest([source / s for s in SOURCES])
    ):
        _say(f"prebuilt JupyterLab extension in {output} is up to date")
        return
    if not have_sources:
        _say("no TypeScript sources and no prebuilt extension: installing without the JupyterLab side")
        return
    npm = shutil.which("npm")
    if not (shutil.which("node") and npm):
        if built.is_file():
            _say("Node.js/npm not found: using the prebuilt extension, older than its sources")
        else:
            _say(
                "Node.js/npm not found: installing WITHOUT the JupyterLab extension "
                "(the %%agent magic and everything in the kernel work; install Node.js >= 18 "
                "and npm, then reinstall hermes_nb, for the sidebar, restart banner and saved-run view)"
            )
        return
    lock = source / "package-lock.json"
    installed = source / "node_modules" / ".package-lock.json"
    if not installed.is_file() or (lock.is_file() and lock.stat().st_mtime > installed.stat().st_mtime):
        _say("installing the npm build dependencies (npm ci)")
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=source, check=True)
    _say("building the JupyterLab extension (npm run build:prod)")
    subprocess.run([npm, "run", "build:prod"], cwd=source, check=True)
    if not built.is_file():
        raise RuntimeError(f"the JupyterLab extension build left no {built}")
