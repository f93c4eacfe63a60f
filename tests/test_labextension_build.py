"""The JupyterLab extension's packaging: the build hook, and the installed extension."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HOOK = ROOT / "labextension" / "build_assets.py"


def _hook():
    spec = importlib.util.spec_from_file_location("build_assets", HOOK)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _project(tmp_path: Path) -> Path:
    """A copy of the extension's sources (no node_modules, nothing built)."""
    project = tmp_path / "project"
    (project / "hermes_nb").mkdir(parents=True)
    src = project / "labextension"
    src.mkdir()
    for name in ("package.json", "package-lock.json", "tsconfig.json"):
        shutil.copy(ROOT / "labextension" / name, src / name)
    shutil.copytree(ROOT / "labextension" / "src", src / "src")
    shutil.copytree(ROOT / "labextension" / "style", src / "style")
    return project


def test_build_without_node_skips_with_a_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project = _project(tmp_path)
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.delenv("HERMES_NB_SKIP_LABEXTENSION", raising=False)
    _hook().build("wheel", "standard", path=str(project / "labextension"))
    err = capsys.readouterr().err
    assert "Node.js/npm not found" in err and "WITHOUT the JupyterLab extension" in err
    assert not (project / "hermes_nb" / "labextension").exists()


def test_up_to_date_prebuilt_extension_is_not_rebuilt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Built from the same sources (their hash recorded beside it), however old its
    files look: a git checkout gives every file the time of the checkout."""
    project = _project(tmp_path)
    hook = _hook()
    built = project / "hermes_nb" / "labextension" / "package.json"
    built.parent.mkdir(parents=True)
    built.write_text("{}")
    (built.parent / hook.STAMP).write_text(hook.source_hash(project / "labextension") + "\n")
    os.utime(built, (1, 1))  # older than every source file
    monkeypatch.setenv("PATH", str(tmp_path))  # npm would fail if it were called
    hook.build("wheel", "standard", path=str(project / "labextension"))
    assert "is up to date" in capsys.readouterr().err
    assert built.read_text() == "{}"


def test_changed_sources_without_node_keep_the_prebuilt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project = _project(tmp_path)
    hook = _hook()
    built = project / "hermes_nb" / "labextension" / "package.json"
    built.parent.mkdir(parents=True)
    built.write_text("{}")
    (built.parent / hook.STAMP).write_text(hook.source_hash(project / "labextension") + "\n")
    with (project / "labextension" / "src" / "index.ts").open("a") as f:
        f.write("// changed\n")  # newer sources, whatever the files' times say
    os.utime(built, (4e9, 4e9))
    monkeypatch.setenv("PATH", str(tmp_path))
    hook.build("wheel", "standard", path=str(project / "labextension"))
    assert "using the prebuilt extension, built from other sources" in capsys.readouterr().err


def test_the_committed_build_is_built_from_the_committed_sources() -> None:
    """The extension in git (hermes_nb/labextension) records the hash of the sources it
    was built from: a TypeScript or style change without a rebuild
    (``python labextension/build_assets.py``) fails here."""
    hook = _hook()
    output = ROOT / "hermes_nb" / "labextension"
    assert (output / "package.json").is_file()
    assert hook.built_hash(output) == hook.source_hash(ROOT / "labextension"), (
        "hermes_nb/labextension was built from other sources: run python labextension/build_assets.py"
    )
    tracked = subprocess.run(
        ["git", "ls-files", "hermes_nb/labextension"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    if tracked.returncode == 0:  # a git checkout: the build is committed, maps are not
        names = tracked.stdout.split()
        assert "hermes_nb/labextension/package.json" in names and "hermes_nb/labextension/sources.sha256" in names
        assert not [n for n in names if n.endswith(".map")]


def test_installed_extension_is_listed_as_a_python_package() -> None:
    """``pip install`` put the built extension where JupyterLab finds prebuilt ones."""
    share = Path(sys.prefix) / "share" / "jupyter" / "labextensions" / "hermes-nb"
    meta = json.loads((share / "package.json").read_text())
    assert meta["name"] == "hermes-nb"
    assert (share / "static" / "style.js").is_file()
    assert json.loads((share / "install.json").read_text())["packageName"] == "hermes-nb"
    listing = subprocess.run(
        [sys.executable, "-m", "jupyterlab.labextensions", "list"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    text = listing.stdout + listing.stderr
    line = next(line for line in text.splitlines() if "hermes-nb" in line)
    assert "enabled" in line and "OK" in line and "(python, hermes-nb)" in line


def test_skip_variable_builds_nothing_even_with_node(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project = _project(tmp_path)
    monkeypatch.setenv("HERMES_NB_SKIP_LABEXTENSION", "1")
    _hook().build("wheel", "editable", path=str(project / "labextension"))
    assert "not building the JupyterLab extension" in capsys.readouterr().err
    assert not (project / "labextension" / "node_modules").exists()
    assert not (project / "hermes_nb" / "labextension").exists()
