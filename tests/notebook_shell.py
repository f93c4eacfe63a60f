"""A terminal IPython shell with hermes_nb loaded, for the in-process magic tests.

The fixtures ``make_notebook`` (a factory: config, load or not), ``nb`` (loaded,
text display) and ``replays`` (every ReplayProvider the magics built, with the
requests it got) are in ``conftest.py``, for every test module.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from disk_view import read_session
from IPython.core.error import UsageError
from IPython.core.interactiveshell import ExecutionResult, InteractiveShell

from hermes_nb import models
from hermes_nb.agent.providers.replay import ReplayProvider

NOTEBOOK = "nb.ipynb"


@dataclass
class Cell:
    """What running one cell did: IPython's result and what it printed."""

    result: ExecutionResult
    out: str
    err: str

    @property
    def error(self) -> BaseException | None:
        return self.result.error_in_exec or self.result.error_before_exec

    def ok(self) -> Cell:
        assert self.error is None, f"cell failed: {self.error!r}\n{self.err}"
        return self

    def usage_error(self) -> str:
        """The UsageError's message; the user saw it as one line and no traceback."""
        assert isinstance(self.error, UsageError), f"expected a UsageError, got {self.error!r}\n{self.err}"
        assert "Traceback" not in self.err and "Traceback" not in self.out
        assert f"UsageError: {self.error}" in self.err
        return str(self.error)


class Notebook:
    """One shell in a folder of its own (the notebook ``nb.ipynb`` lives there)."""

    def __init__(self, shell: InteractiveShell, folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.shell = shell
        self.folder = folder
        self._capsys = capsys

    @property
    def magics(self) -> Any:
        return self.shell.magics_manager.registry["AgentMagics"]

    @property
    def sessions_dir(self) -> Path:
        return Path(models.SESSION_DIR)

    def run(self, code: str) -> Cell:
        self._capsys.readouterr()
        result = self.shell.run_cell(code)
        out, err = self._capsys.readouterr()
        return Cell(result, out, err)

    def script(self, *replies: Any, name: str = "script.json", title: str | None = None) -> Path:
        """Write a replay script next to the notebook; returns its path."""
        path = self.folder / name
        data: dict[str, Any] = {"replies": list(replies)}
        if title is not None:
            data["title"] = title
        path.write_text(json.dumps(data), encoding="utf-8")
        return path

    def use_script(self, *replies: Any, name: str = "script.json") -> Path:
        """Write a replay script and make it the configured model."""
        path = self.script(*replies, name=name)
        self.run(f'%config AgentMagics.model = "replay:{path}"').ok()
        return path

    @property
    def current(self) -> str:
        sid = self.magics.current_session_id
        assert sid, "no current session"
        return str(sid)

    def on_disk(self, session_id: str | None = None) -> dict[str, Any]:
        """A session on disk, its file with its journal folded in (the current session by default)."""
        sid = session_id or self.current
        return read_session(self.sessions_dir / f"{sid}.json")

    def session_files(self) -> list[Path]:
        return sorted(p for p in self.sessions_dir.glob("*.json") if p.name != "_index.json")


def roles(messages: list[dict[str, Any]]) -> list[str]:
    return [m["role"] for m in messages]


MakeNotebook = Callable[..., Notebook]


def requests_of(replays: list[ReplayProvider]) -> list[list[dict[str, Any]]]:
    """Every request any replay provider answered, in order."""
    return [request for provider in replays for request in provider.requests]
