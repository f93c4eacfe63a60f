"""The notebook tools' live side in a real JupyterLab: read_notebook sees an unsaved
edit, edit_cell shows a diff the user accepts or rejects, insert_cell puts a cell
above the running one. Scripted runs (the replay model); the tool results are read
from the saved session, the cells from the page."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import pytest
from lab_harness import (
    LabServer,
    accept_dialogs,
    command,
    shot,
    wait_kernel_idle,
)
from ops_helpers import (
    CELL_SOURCES,
    READ_CELLS,
    READ_SCRIPT,
    accept_the_first_diff,
    read_after_an_unsaved_edit,
    start,
    tool_results,
)

pytestmark = [pytest.mark.browser, pytest.mark.kernel, pytest.mark.slow]

def test_read_notebook_reads_an_unsaved_edit_live(lab: LabServer, page: Any) -> None:
    start(lab, page, "liveread", READ_SCRIPT, READ_CELLS)
    read_after_an_unsaved_edit(lab, page, "liveread", "JupyterLab")
    card = page.locator("details.hermes-nb-tool", has_text="read_notebook").first
    card.locator("summary").click()
    shown = card.inner_text()  # the tool card, opened, shows the same result
    assert "read live: unsaved edits included" in shown and "# typed, never saved" in shown
    shot(page, "ops-01-read-live")
    assert not page.errors  # type: ignore[attr-defined]


EDIT_SCRIPT = {
    "replies": [
        {"text": "I'll change the total.", "tool_calls": [{"name": "edit_cell", "arguments": {"index": 1, "source": "total = 42\nprint(total)"}}]},
        "Changed.",
        {"tool_calls": [{"name": "edit_cell", "arguments": {"index": 1, "source": "total = 43\nprint(total)"}}]},
        "Kept as it was.",
    ]
}


def test_edit_cell_shows_a_diff_accept_applies_and_reject_does_not(lab: LabServer, page: Any) -> None:
    start(
        lab, page, "edit", EDIT_SCRIPT,
        ["total = 41\nprint(total)", "%%agent\nMake the total 42.", "%%agent\nNow 43."],
    )  # fmt: skip
    accept_the_first_diff(page, "ops-02-diff")

    second = page.locator(".hermes-nb-diff", has_text="total = 43")
    second.first.wait_for(state="visible", timeout=90_000)
    shot(page, "ops-03-second-diff")
    second.first.get_by_role("button", name="Reject").click()
    page.get_by_text("Kept as it was.").first.wait_for(timeout=60_000)
    wait_kernel_idle(page)
    assert page.locator(".hermes-nb-diff").count() == 0
    cells = page.evaluate(CELL_SOURCES)
    assert cells[1] == ["code", "total = 42\nprint(total)"]
    accepted, rejected = tool_results(lab, "edit.ipynb")
    assert accepted.startswith("The user accepted the change: cell 1 now holds the new source")
    assert rejected.startswith("The user rejected the change: cell 1 is unchanged")
    shot(page, "ops-04-after")
    assert not page.errors  # type: ignore[attr-defined]


def test_stop_takes_the_diff_away_and_changes_nothing(lab: LabServer, page: Any) -> None:
    script = {"replies": [{"tool_calls": [{"name": "edit_cell", "arguments": {"index": 1, "source": "x = 2"}}]}, "Never."]}
    start(lab, page, "stop", script, ["x = 1", "%%agent\nChange x."])
    command(page, "notebook:run-all-cells")
    diff = page.locator(".hermes-nb-diff")
    diff.first.wait_for(state="visible", timeout=90_000)
    command(page, "notebook:interrupt-kernel")
    page.locator(".hermes-nb-diff").first.wait_for(state="detached", timeout=30_000)
    wait_kernel_idle(page)
    assert page.evaluate(CELL_SOURCES)[1] == ["code", "x = 1"]
    results = tool_results(lab, "stop.ipynb")
    assert results and not any("accepted" in r for r in results)


def test_a_killed_kernel_takes_the_diff_away(lab: LabServer, page: Any) -> None:
    script = {"replies": [{"tool_calls": [{"name": "edit_cell", "arguments": {"index": 1, "source": "y = 2"}}]}, "Never."]}
    start(lab, page, "killdiff", script, ["y = 1", "%%agent\nChange y."])
    command(page, "notebook:run-all-cells")
    page.locator(".hermes-nb-diff").first.wait_for(state="visible", timeout=90_000)
    os.kill(lab.kernel_pid("killdiff.ipynb"), signal.SIGKILL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and page.locator(".hermes-nb-diff").count():
        accept_dialogs(page)  # "Kernel Restarting"
        page.wait_for_timeout(500)
    assert page.locator(".hermes-nb-diff").count() == 0
    accept_dialogs(page)
    assert page.evaluate(CELL_SOURCES)[1] == ["code", "y = 1"]
    shot(page, "ops-05-killed")


def test_insert_cell_at_an_index_above_the_agent_cell(lab: LabServer, page: Any) -> None:
    script = {
        "replies": [
            {"tool_calls": [{"name": "insert_cell", "arguments": {"source": "# Sales analysis", "cell_type": "markdown", "index": 1}}]},
            "Added a title.",
        ]
    }
    start(lab, page, "insert", script, ["a = 1", "%%agent\nGive my notebook a title."])
    command(page, "notebook:run-all-cells")
    page.get_by_text("Added a title.").first.wait_for(timeout=90_000)
    wait_kernel_idle(page)
    cells = page.evaluate(CELL_SOURCES)
    assert [c[1] for c in cells[1:]] == ["# Sales analysis", "a = 1", "%%agent\nGive my notebook a title."]
    assert cells[1][0] == "markdown"
    [result] = tool_results(lab, "insert.ipynb")
    assert result.startswith("Inserted a new markdown cell at index 1 of the live notebook")
    shot(page, "ops-06-inserted")
