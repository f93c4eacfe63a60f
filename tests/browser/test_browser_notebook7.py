"""The notebook tools' live side in Notebook 7, which loads the same extension as
JupyterLab: the ``/notebooks/`` page of the same server. read_notebook sees an unsaved
edit, edit_cell's diff is accepted, insert_cell puts a cell at an index. Screenshots:
nb7-*.png."""

from __future__ import annotations

from typing import Any

import pytest
from lab_harness import (
    LabServer,
    shot,
    wait_kernel_idle,
)
from ops_helpers import (
    CELL_SOURCES,
    READ_CELLS,
    READ_SCRIPT,
    accept_the_first_diff,
    read_after_an_unsaved_edit,
    start_notebook7,
    tool_results,
)

pytestmark = [pytest.mark.browser, pytest.mark.kernel, pytest.mark.slow]

def test_read_notebook_reads_an_unsaved_edit_in_notebook7(lab: LabServer, page: Any) -> None:
    errors = start_notebook7(lab, page, "nb7read", READ_SCRIPT, READ_CELLS)
    read_after_an_unsaved_edit(lab, page, "nb7read", "Jupyter Notebook")
    shot(page, "nb7-01-read-live")
    assert errors == []


def test_edit_cell_accepted_and_insert_cell_in_notebook7(lab: LabServer, page: Any) -> None:
    script = {
        "replies": [
            {"tool_calls": [{"name": "edit_cell", "arguments": {"index": 1, "source": "total = 42\nprint(total)"}}]},
            "Changed.",
            {"tool_calls": [{"name": "insert_cell", "arguments": {"source": "# Totals", "cell_type": "markdown", "index": 1}}]},
            "Added a title.",
        ]
    }
    errors = start_notebook7(
        lab, page, "nb7edit", script,
        ["total = 41\nprint(total)", "%%agent\nMake the total 42.", "%%agent\nGive it a title."],
    )  # fmt: skip
    accept_the_first_diff(page, "nb7-02-diff")
    page.get_by_text("Added a title.").first.wait_for(timeout=90_000)
    wait_kernel_idle(page)
    assert page.locator(".hermes-nb-diff").count() == 0
    cells = page.evaluate(CELL_SOURCES)
    assert cells[1] == ["markdown", "# Totals"]
    assert cells[2] == ["code", "total = 42\nprint(total)"]
    accepted, inserted = tool_results(lab, "nb7edit.ipynb")
    assert accepted.startswith("The user accepted the change: cell 1 now holds the new source")
    assert inserted.startswith("Inserted a new markdown cell at index 1 of the live notebook")
    shot(page, "nb7-03-after")
    assert errors == []


# Streams, runs a 6-second tool (the header shows the run meanwhile), then answers.
SIDEBAR_SCRIPT = {
    "replies": [
        {
            "chunks": ["Let ", "me ", "check."],
            "delay": 0.2,
            "tool_calls": [{"name": "python", "arguments": {"code": "import time\ntime.sleep(6)\n6 * 7"}}],
        },
        "Kittens are **young cats**.",
    ]
}


def test_the_run_item_shows_and_a_session_opens_its_transcript_in_notebook7(lab: LabServer, page: Any) -> None:
    """Notebook 7 has no status bar: the run's item is in the header while it streams.
    A click on a session in the "Agent sessions" panel opens its transcript in the
    panel below the notebook (its main area holds only the notebook)."""
    errors = start_notebook7(lab, page, "nb7side", SIDEBAR_SCRIPT, ["%%agent\nWhat are kittens?"])
    page.evaluate("() => { void window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
    item = page.locator("#hermes-nb-run-status")
    item.wait_for(state="visible", timeout=60_000)
    assert item.inner_text().startswith("Agent run · replay:nb7side.json")
    shot(page, "nb7-04-run-item-in-header")
    page.get_by_text("Kittens are").first.wait_for(timeout=90_000)
    wait_kernel_idle(page)
    item.wait_for(state="hidden", timeout=30_000)

    page.evaluate("() => window.jupyterapp.shell.activateById('hermes-nb-sessions')")
    row = page.locator("#hermes-nb-sessions .hermes-nb-session")
    row.first.wait_for(timeout=30_000)
    row.first.locator(".hermes-nb-session-title").click()
    transcript = page.locator(".hermes-nb-transcript", has_text="young cats")
    transcript.first.wait_for(state="visible", timeout=30_000)
    assert "What are kittens?" in transcript.first.inner_text()
    page.wait_for_timeout(500)  # the panel below the notebook opens
    box = transcript.first.bounding_box()
    assert box is not None and box["height"] > 150, box  # readable, not a bare tab bar
    shot(page, "nb7-05-transcript")
    assert errors == []
