"""Build the JupyterLab extension into ``hermes_nb/labextension`` during a package build.

Called by hatch-jupyter-builder (``[tool.hatch.build.hooks.jupyter-builder]`` in
pyproject.toml) for wheels, sdists and editable installs. The built extension is
kept in git with a hash of the sources it was built from (``sources.sha256`` in the
built folder), so a checkout installs it as it is: it is rebuilt only when the
sources' hash differs (a file's time cannot tell: git checkout sets it) and Node.js
and npm are there. Without them the build says so and goes on with the prebuilt
extension, or without one, so the kernel side still installs.

    python labextension/build_assets.py    # rebuild (npm run build:prod) and record the hash
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

SOURCES = ("src", "style", "package.json", "package-lock.json", "tsconfig.json")
#: in the built folder: the hash of the sources it was built from
STAMP = "sources.sha256"


def source_hash(source: Path) -> str:
    """SHA-256 of the extension's sources: each file's path and bytes, in path order
    (line ends as LF, so a Windows checkout hashes the same)."""
    files: list[Path] = []
    for name in SOURCES:
        path = source / name
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            files.extend(p for p in path.rglob("*") if p.is_file())
    digest = hashlib.sha256()
    for path in sorted(files, key=lambda p: p.relative_to(source).as_posix()):
        digest.update(path.relative_to(source).as_posix().encode() + b"\0")
        digest.update(path.read_bytes().replace(b"\r\n", b"\n") + b"\0")
    return digest.hexdigest()


def built_hash(output: Path) -> str | None:
    """The sources' hash the built extension records, or None."""
    try:
        return (output / STAMP).read_text(encoding="ascii").strip() or None
    except OSError:
        return None


def _say(message: str) -> None:
    print(f"hermes_nb labextension: {message}", file=sys.stderr, flush=True)


def build(
    target_name: str, version: str, path: str = "labextension", force: bool = False, **_: object
) -> None:
    """Build the extension with npm when it is missing or was built from other sources."""
    source = Path(path).resolve()
    output = source.parent / "hermes_nb" / "labextension"
    built = output / "package.json"
    if os.environ.get("HERMES_NB_SKIP_LABEXTENSION") == "1":
        _say("HERMES_NB_SKIP_LABEXTENSION=1: not building the JupyterLab extension")
        return
    have_sources = (source / "package.json").is_file()
    if not force and built.is_file() and (
        not have_sources or built_hash(output) == source_hash(source)
    ):
        _say(f"prebuilt JupyterLab extension in {output} is up to date")
        return
    if not have_sources:
        _say("no TypeScript sources and no prebuilt extension: installing without the JupyterLab side")
        return
    npm = shutil.which("npm")
    if not (shutil.which("node") and npm):
        if built.is_file():
            _say("Node.js/npm not found: using the prebuilt extension, built from other sources")
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
    (output / STAMP).write_text(source_hash(source) + "\n", encoding="ascii")


if __name__ == "__main__":
    build("wheel", "standard", path=str(Path(__file__).resolve().parent), force=True)
