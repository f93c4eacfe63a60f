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


def test_package_json_with_another_version_than_pyproject_fails_the_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pyproject.toml holds the version; the build refuses a package.json that differs."""
    project = _project(tmp_path)
    (project / "pyproject.toml").write_text('[project]\nname = "hermes-nb"\nversion = "9.9.9"\n')
    monkeypatch.delenv("HERMES_NB_SKIP_LABEXTENSION", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # npm would fail if it were called
    with pytest.raises(RuntimeError, match=r"version '0\.1\.0' but pyproject\.toml has '9\.9\.9'"):
        _hook().build("wheel", "standard", path=str(project / "labextension"))
    assert not (project / "hermes_nb" / "labextension").exists()


def test_one_version_and_one_jupyterlab_floor_across_python_and_npm() -> None:
    """The npm package, its build and the Python package carry pyproject's version, and
    every @jupyterlab package the extension imports has the floor of the ``lab`` extra."""
    import hermes_nb

    hook = _hook()
    version = hook.project_version(ROOT / "pyproject.toml")
    package = json.loads((ROOT / "labextension" / "package.json").read_text())
    built = json.loads((ROOT / "hermes_nb" / "labextension" / "package.json").read_text())
    assert version and package["version"] == built["version"] == hermes_nb.__version__ == version
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"jupyterlab>=4.0"' in pyproject
    # @jupyterlab/<app package> is released with JupyterLab: 4.0 <-> ^4.0.0
    lab_packages = {
        name: spec
        for name, spec in package["dependencies"].items()
        if name.startswith("@jupyterlab/")
        and name not in ("@jupyterlab/coreutils", "@jupyterlab/services", "@jupyterlab/rendermime-interfaces")
    }
    assert lab_packages and set(lab_packages.values()) == {"^4.0.0"}, lab_packages


def test_labextension_develop_links_the_built_extension(tmp_path: Path) -> None:
    """``jupyter labextension develop --overwrite .`` finds the package's extension and
    links it (here into a scratch folder, never the environment's)."""
    target = tmp_path / "labextensions"
    target.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [
            sys.executable, "-m", "jupyterlab.labextensions", "develop", "--overwrite",
            "--DevelopLabExtensionApp.sys_prefix=False",
            f"--DevelopLabExtensionApp.labextensions_dir={target}",
            ".",
        ],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    link = target / "hermes-nb"
    assert link.is_symlink() and link.resolve() == (ROOT / "hermes_nb" / "labextension").resolve()
    assert json.loads((link / "package.json").read_text())["name"] == "hermes-nb"
