"""Which notebook this kernel runs and where its sessions go.

Found from what the frontend leaves in the kernel (VS Code's ``__vsc_ipynb_file__``,
Jupyter's ``__session__``) or the environment, so that sessions sit beside the notebook
they belong to and not wherever the kernel happened to start.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["NotebookLocation", "find_notebook", "session_dir_for"]

@dataclass(frozen=True)
class NotebookLocation:
    """Where the running notebook is and where its sessions go.

    ``path`` is the notebook file when known; ``how`` says which clue found it
    (``vscode``, ``session``, ``env``, ``configured``, ``cwd``); ``warning`` is one
    line for the user when we had to guess.
    """

    path: Path | None
    how: str
    warning: str | None
    session_dir: Path

    @property
    def name(self) -> str | None:
        """The notebook's file name, as stored in each session."""
        return self.path.name if self.path is not None else None


def session_dir_for(notebook_dir: str | os.PathLike[str]) -> Path:
    """``<notebook dir>/.hermes_nb/sessions``."""
    return Path(notebook_dir) / ".hermes_nb" / "sessions"


def _resolve_relative(value: str, cwd: Path) -> Path:
    """``__session__`` may be relative to the server root, not to the kernel's cwd."""
    path = Path(value).expanduser()
    if path.is_absolute():
        return path
    if (cwd / path).exists():
        return (cwd / path).resolve()
    # The kernel runs in the notebook's folder, so the file name alone is the best bet.
    return cwd / path.name


def find_notebook(
    user_ns: Mapping[str, Any],
    environ: Mapping[str, str] | None = None,
    configured_dir: str | os.PathLike[str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> NotebookLocation:
    """Find the notebook file and the sessions folder.

    The notebook: ``__vsc_ipynb_file__`` (VS Code), ``__session__`` (JupyterLab,
    Notebook 7), env ``JPY_SESSION_NAME``. Sessions go to ``configured_dir`` when
    set (an explicit choice wins), else next to the notebook, else in the working
    directory with a warning (nbclient/nbval run in the notebook's folder anyway).
    """
    env = os.environ if environ is None else environ
    here = Path(cwd) if cwd is not None else Path.cwd()
    path: Path | None = None
    how = "cwd"
    vsc = user_ns.get("__vsc_ipynb_file__")
    session = user_ns.get("__session__")
    jpy = env.get("JPY_SESSION_NAME")
    if isinstance(vsc, str) and vsc:
        path, how = Path(vsc).expanduser(), "vscode"
    elif isinstance(session, str) and session:
        path, how = _resolve_relative(session, here), "session"
    elif jpy:
        path, how = _resolve_relative(jpy, here), "env"
    if configured_dir is not None:
        folder = Path(configured_dir).expanduser()
        return NotebookLocation(path, how if path else "configured", None, folder)
    if path is not None:
        return NotebookLocation(path, how, None, session_dir_for(path.parent))
    folder = session_dir_for(here)
    warning = (
        f"hermes_nb: could not tell which notebook this is; sessions are kept in {folder} "
        "(set %config AgentMagics.session_dir to choose)."
    )
    return NotebookLocation(None, "cwd", warning, folder)
