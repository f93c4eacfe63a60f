"""The extension's own checks: jest unit tests of its pure modules (line diff, times,
status and banner texts) and its lint (eslint + prettier), run with the project's npm."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parent.parent / "labextension"


def _npm() -> str:
    """npm, with the extension's dev dependencies installed; a clear failure otherwise."""
    npm = shutil.which("npm")
    if not (npm and shutil.which("node")):
        pytest.fail(
            "Node.js and npm are needed for the JupyterLab extension's unit tests and lint: "
            "install Node.js >= 18, then run `npm ci` in labextension/"
        )
    for tool in ("jest", "eslint", "prettier"):
        if not (SOURCE / "node_modules" / ".bin" / tool).exists():
            pytest.fail(f"labextension/node_modules has no {tool}: run `npm ci` in labextension/")
    return npm


def _run(script: str) -> None:
    done = subprocess.run(
        [_npm(), "run", "--silent", script],
        cwd=SOURCE,
        capture_output=True,
        text=True,
        timeout=560,
    )
    assert done.returncode == 0, f"npm run {script} failed:\n{done.stdout}\n{done.stderr}"


@pytest.mark.slow
def test_npm_unit_tests_pass() -> None:
    _run("test")


@pytest.mark.slow
def test_npm_lint_passes() -> None:
    _run("lint")
