"""Fixtures shared by every test module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


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
