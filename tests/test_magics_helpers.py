"""A terminal IPython shell with hermes_nb loaded, for the in-process magic tests.

Import the ``*_fixture`` functions into a test module to use the fixtures
``make_notebook`` (a factory: config, load or not), ``nb`` (loaded, text display)
and ``replays`` (every ReplayProvider the magics built, with the requests it got).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from disk_view import read_session
from IPython.core.error import UsageError
from IPython.core.interactiveshell import ExecutionResult, InteractiveShell
from traitlets.config import Config

from hermes_nb import models, streaming
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


@pytest.fixture(name="make_notebook")
def make_notebook_fixture(
    session_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[MakeNotebook]:
    """Build the test's shell: ``make_notebook(config=None, load=True, notebook=True)``.

    The notebook is ``<tmp>/nb.ipynb`` (told by ``JPY_SESSION_NAME``, as JupyterLab
    does), so sessions go to the folder of the ``session_dir`` fixture; with
    ``notebook=False`` no clue is given and the working directory (``<tmp>``) is used.
    """
    folder = session_dir.parent.parent
    monkeypatch.chdir(folder)
    monkeypatch.delenv("HERMES_NB_MODEL", raising=False)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    made: list[InteractiveShell] = []

    def make(cfg: Config | None = None, *, load: bool = True, notebook: bool = True) -> Notebook:
        if notebook:
            monkeypatch.setenv("JPY_SESSION_NAME", str(folder / NOTEBOOK))
        cfg = cfg if cfg is not None else Config()
        cfg.HistoryManager.enabled = False
        InteractiveShell.clear_instance()
        shell = InteractiveShell.instance(config=cfg)
        made.append(shell)
        nb = Notebook(shell, folder, capsys)
        if load:
            nb.run("%load_ext hermes_nb").ok()
        return nb

    yield make
    InteractiveShell.clear_instance()
    models.SESSIONS.clear()
    assert not streaming.ACTIVE_RUNS, "a run was left active"


@pytest.fixture(name="nb")
def nb_fixture(make_notebook: MakeNotebook) -> Notebook:
    """hermes_nb loaded in a fresh shell, printing runs as text, no model chosen yet."""
    nb = make_notebook()
    nb.run('%config AgentMagics.display = "text"').ok()
    return nb


@pytest.fixture(name="replays")
def replays_fixture(monkeypatch: pytest.MonkeyPatch) -> list[ReplayProvider]:
    """Every ReplayProvider built during the test (the magics build one per run);
    each keeps the messages and tool schemas of every request it answered."""
    made: list[ReplayProvider] = []
    original = ReplayProvider.__init__

    def record(self: ReplayProvider, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(ReplayProvider, "__init__", record)
    return made


def requests_of(replays: list[ReplayProvider]) -> list[list[dict[str, Any]]]:
    """Every request any replay provider answered, in order."""
    return [request for provider in replays for request in provider.requests]
