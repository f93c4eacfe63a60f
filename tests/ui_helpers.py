"""Helpers for the renderer tests: a counting comm and an IPython display capture.

Import the ``*_fixture`` functions into a test module to use the fixtures
``comm_log`` and ``displayed``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import comm
import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import CapturedIO, capture_output


class CountingComm(comm.DummyComm):
    """A comm with no kernel behind it that counts the messages widgets send."""

    sent: list[dict[str, Any]] = []

    def publish_msg(
        self,
        msg_type: str,
        data: Any = None,
        metadata: Any = None,
        buffers: Any = None,
        **keys: Any,
    ) -> None:
        CountingComm.sent.append({"msg_type": msg_type, "data": data})


@pytest.fixture(name="comm_log")
def comm_log_fixture(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """Every comm message widgets created in the test send (opens, updates, closes)."""
    CountingComm.sent = []
    monkeypatch.setattr(comm, "create_comm", lambda *a, **k: CountingComm(*a, **k))
    yield CountingComm.sent


@pytest.fixture(name="displayed")
def displayed_fixture() -> Iterator[CapturedIO]:
    """An IPython shell whose display() calls are recorded (``.outputs``)."""
    InteractiveShell.instance()
    with capture_output(stdout=False, stderr=False) as captured:
        yield captured
