"""Fixtures shared by every test module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True, scope="session")
def _sigint_as_usual() -> Iterator[None]:
    """Interrupt tests behave the same however the runner was started (a background
    job inherits SIGINT ignored); see kernel_harness.default_sigint."""
    from kernel_harness import default_sigint

    with default_sigint():
        yield


@pytest.fixture
def session_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point the session store at an empty folder, with an empty cache."""
    from hermes_nb import models

    folder = tmp_path / ".hermes_nb" / "sessions"
    models.set_session_dir(folder)
    monkeypatch.setattr(models, "SESSION_DIR", folder)
    monkeypatch.setattr(models, "SESSION_INDEX_FILE", folder / "_index.json")
    models.SESSIONS.clear()
    yield folder
    models.SESSIONS.clear()
