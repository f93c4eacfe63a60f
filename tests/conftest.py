"""Fixtures shared by every test module."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from server_harness import SERVED_NOTEBOOK

from hermes_nb.store.sessions import SessionStore, use_store

if TYPE_CHECKING:
    from notebook_shell import MakeNotebook, Notebook
    from server_harness import Server
    from traitlets.config import Config

    from hermes_nb.agent.providers.replay import ReplayProvider


@pytest.fixture(autouse=True, scope="session")
def _sigint_as_usual() -> Iterator[None]:
    """Interrupt tests behave the same however the runner was started (a background
    job inherits SIGINT ignored); see kernel_harness.default_sigint."""
    from kernel_harness import default_sigint

    with default_sigint():
        yield


@pytest.fixture
def session_dir(tmp_path: Path) -> Iterator[Path]:
    """The kernel's store is a new one for an empty folder, with an empty cache."""
    folder = tmp_path / ".hermes_nb" / "sessions"
    with _own_store(folder):
        yield folder


@contextlib.contextmanager
def _own_store(folder: Path) -> Iterator[SessionStore]:
    """A ``SessionStore`` for ``folder``, the current store until the test ends."""
    store = SessionStore(folder)
    store.point_at(folder)
    previous = use_store(store)
    try:
        yield store
    finally:
        if previous is not None:
            use_store(previous)


# -- a terminal IPython shell with hermes_nb loaded (see notebook_shell)


@pytest.fixture
def make_notebook(
    session_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[MakeNotebook]:
    """Build the test's shell: ``make_notebook(config=None, load=True, notebook=True)``.

    The notebook is ``<tmp>/nb.ipynb`` (told by ``JPY_SESSION_NAME``, as JupyterLab
    does), so sessions go to the folder of the ``session_dir`` fixture; with
    ``notebook=False`` no clue is given and the working directory (``<tmp>``) is used.
    """
    from IPython.core.interactiveshell import InteractiveShell
    from notebook_shell import NOTEBOOK, Notebook
    from traitlets.config import Config

    from hermes_nb import models, streaming

    folder = session_dir.parent.parent
    monkeypatch.chdir(folder)
    monkeypatch.delenv("HERMES_NB_MODEL", raising=False)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)

    def make(cfg: Config | None = None, *, load: bool = True, notebook: bool = True) -> Notebook:
        if notebook:
            monkeypatch.setenv("JPY_SESSION_NAME", str(folder / NOTEBOOK))
        cfg = cfg if cfg is not None else Config()
        cfg.HistoryManager.enabled = False
        InteractiveShell.clear_instance()
        shell = InteractiveShell.instance(config=cfg)
        nb = Notebook(shell, folder, capsys)
        if load:
            nb.run("%load_ext hermes_nb").ok()
        return nb

    yield make
    InteractiveShell.clear_instance()
    models.SESSIONS.clear()
    assert not streaming.ACTIVE_RUNS, "a run was left active"


@pytest.fixture
def nb(make_notebook: MakeNotebook) -> Notebook:
    """hermes_nb loaded in a fresh shell, printing runs as text, no model chosen yet."""
    nb = make_notebook()
    nb.run('%config AgentMagics.display = "text"').ok()
    return nb


@pytest.fixture
def replays(monkeypatch: pytest.MonkeyPatch) -> list[ReplayProvider]:
    """Every ReplayProvider built during the test (the magics build one per run);
    each keeps the messages and tool schemas of every request it answered."""
    from hermes_nb.agent.providers.replay import ReplayProvider

    made: list[ReplayProvider] = []
    original = ReplayProvider.__init__

    def record(self: ReplayProvider, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(ReplayProvider, "__init__", record)
    return made


# -- a real jupyter server with the extension, over a folder holding work/analysis.ipynb


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One ``jupyter server`` per test module (a module may define its own ``server``)."""
    from server_harness import Server

    root = tmp_path_factory.mktemp("root") / "served"
    (root / "work").mkdir(parents=True)
    (root / SERVED_NOTEBOOK).write_text("{}")
    srv = Server(root)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def store(server: Server) -> Iterator[Path]:
    """The test's store points at the served notebook's sessions folder (emptied of
    files and links a test left)."""
    folder = server.root / "work" / ".hermes_nb" / "sessions"
    if folder.exists():
        for path in list(folder.iterdir()):
            if path.is_symlink() or path.is_file():
                path.unlink()
    with _own_store(folder):
        yield folder
