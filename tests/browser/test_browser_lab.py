"""hermes_nb's JupyterLab side in a real browser: Playwright drives Debian's chromium
against ``jupyter lab`` on 127.0.0.1 (token auth, temporary root), with the replay
model so every run says the same thing. Screenshots go to tests/browser/screenshots/."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from lab_harness import (
    LabServer,
    accept_dialogs,
    command,
    open_notebook,
    replay_setup,
    shot,
    wait_kernel_idle,
    write_notebook,
)

pytestmark = [pytest.mark.browser, pytest.mark.kernel, pytest.mark.slow]

# Streams in small pieces, runs a 12-second tool, then answers.
LIVE_SCRIPT = {
    "replies": [
        {
            "chunks": ["Let ", "me ", "add ", "them ", "up ", "in ", "the ", "kernel."],
            "delay": 0.25,
            "tool_calls": [
                {"name": "python", "arguments": {"code": "import time\ntime.sleep(12)\nsum(range(10))"}}
            ],
        },
        {"chunks": ["The ", "sum ", "is ", "**45**."], "delay": 0.25},
    ],
    "title": "Sum of digits",
}

# A tool that completes, then one that never does (the kernel is killed during it);
# resumed, the model answers with the third reply.
KILL_SCRIPT = {
    "replies": [
        {
            "text": "I'll compute it in the kernel.",
            "tool_calls": [{"name": "python", "arguments": {"code": "answer = 6 * 7\nanswer"}}],
        },
        {
            "text": "Now a slow double check.",
            "tool_calls": [{"name": "python", "arguments": {"code": "import time\ntime.sleep(300)"}}],
        },
        "Resumed: the answer is **42**, as the first tool computed.",
    ],
    "title": "Six times seven",
}


def _visible_text(page: Any, selector: str) -> str:
    return str(page.locator(selector).first.inner_text())


def _no_widget_errors(page: Any) -> None:
    assert page.get_by_text("Error displaying widget").count() == 0


def _run_all(page: Any) -> None:
    command(page, "notebook:run-all-cells")


def test_live_run_streams_text_tool_card_and_status(lab: LabServer, page: Any) -> None:
    """A %%agent cell streams its text, shows a tool card while the tool runs, the status
    bar shows model, elapsed and tokens during the run, and the static transcript
    replaces the live view at the end."""
    (lab.root / "live.json").write_text(json.dumps(LIVE_SCRIPT))
    write_notebook(lab.root / "live.ipynb", [replay_setup("live.json"), "%%agent\nAdd 0 to 9."])
    open_notebook(page, lab, "live.ipynb")
    _run_all(page)

    page.get_by_text("Let me add them").first.wait_for(timeout=60_000)
    card = page.locator(".jp-OutputArea-output .widget-accordion, .jp-OutputArea-output .jupyter-widget-Accordion")
    card.first.wait_for(timeout=60_000)
    assert "python" in card.first.inner_text()
    status = page.locator("#hermes-nb-run-status")
    status.wait_for(state="visible", timeout=30_000)
    status_text = status.inner_text()
    shot(page, "live-01-streaming")
    assert "replay:live.json" in status_text
    assert status_text.startswith("Agent run") and " s · " in status_text and "tokens" in status_text

    page.get_by_text("The sum is").first.wait_for(timeout=60_000)
    wait_kernel_idle(page)
    status.wait_for(state="hidden", timeout=30_000)
    shot(page, "live-02-done")
    output = _visible_text(page, ".jp-Cell:nth-child(2) .jp-OutputArea")
    assert "45" in output and "python" in output
    _no_widget_errors(page)
    assert not page.errors  # type: ignore[attr-defined]


def test_killed_kernel_shows_saved_run_banner_resume_reopen_and_sidebar(lab: LabServer, page: Any) -> None:
    """SIGKILL the kernel during a slow tool: the cell shows the saved run instead of a
    dead widget, a banner offers Resume, which runs ``%agent resume`` below and gets the
    answer; saved and reopened, no cell says "Error displaying widget"; the sidebar lists
    the session and opens its transcript."""
    (lab.root / "kill.json").write_text(json.dumps(KILL_SCRIPT))
    write_notebook(lab.root / "kill.ipynb", [replay_setup("kill.json"), "%%agent\nWhat is six times seven?"])
    open_notebook(page, lab, "kill.ipynb")
    _run_all(page)

    page.get_by_text("Now a slow double check").first.wait_for(timeout=60_000)
    page.wait_for_timeout(3000)  # past a checkpoint of the streamed text
    shot(page, "kill-01-slow-tool")
    os.kill(lab.kernel_pid("kill.ipynb"), signal.SIGKILL)

    # The kernel restarts by itself; the cell repairs itself and the banner appears.
    saved = page.locator(".hermes-nb-run-saved")
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and saved.count() == 0:
        accept_dialogs(page)
        page.wait_for_timeout(500)
    saved.first.wait_for(state="visible", timeout=30_000)
    accept_dialogs(page)
    wait_kernel_idle(page)
    banner = page.locator(".jp-toast-message", has_text="Agent run interrupted")
    banner.first.wait_for(timeout=60_000)
    page.wait_for_timeout(1000)  # the toast slides in
    shot(page, "kill-02-saved-run-and-banner")
    saved_text = saved.first.text_content()  # tool cards are closed <details>
    assert "Saved run" in saved_text
    assert "I'll compute it in the kernel." in saved_text
    assert "42" in saved_text  # the first tool's result was checkpointed
    assert "What is six times seven?" in saved_text
    banner_text = banner.first.inner_text()
    # the session's first request was interrupted: the run is named by it
    assert '("What is six times seven?")' in banner_text and "New session" not in banner_text
    assert "saved your request" in banner_text
    assert "2 tool calls" in banner_text  # the finished one and the one the kill stopped
    _no_widget_errors(page)

    page.get_by_role("button", name="Resume").first.click()
    page.get_by_text("Resumed: the answer is").first.wait_for(timeout=90_000)
    wait_kernel_idle(page)
    cells = page.locator(".jp-Notebook .jp-Cell")
    assert cells.count() == 3
    resume_cell = cells.nth(2).inner_text()
    assert "%agent resume" in resume_cell  # inserted below the interrupted cell
    assert "interrupted by a kernel restart" in resume_cell  # what was saved, once
    assert "Continue it with" not in resume_cell  # not above the run it continues
    # The killed cell follows its run: once resumed and finished, it shows the final turn.
    page.locator('.hermes-nb-run-saved[data-state="done"]').first.wait_for(timeout=60_000)
    assert "Resumed: the answer is" in page.locator(".hermes-nb-run-saved").first.inner_text()
    shot(page, "kill-03-resumed")

    # Saved, closed and reopened: the killed cell shows its saved run, never an error.
    command(page, "docmanager:save", wait=True)
    page.wait_for_timeout(1000)
    command(page, "application:close-all", wait=True)
    page.wait_for_timeout(1000)
    stored = json.loads((lab.root / "kill.ipynb").read_text())
    killed_outputs = stored["cells"][1]["outputs"]
    assert any("application/vnd.hermes-nb.run+json" in o.get("data", {}) for o in killed_outputs)
    open_notebook(page, lab, "kill.ipynb")
    page.locator(".hermes-nb-run-saved").first.wait_for(state="visible", timeout=60_000)
    page.wait_for_timeout(6000)  # longer than the renderer waits for a live widget
    shot(page, "kill-04-reopened")
    _no_widget_errors(page)
    assert "Saved run" in page.locator(".hermes-nb-run-saved").first.inner_text()

    # The sidebar lists the session; a click opens its transcript in a tab.
    page.locator('.jp-SideBar [data-id="hermes-nb-sessions"]').first.click()
    row = page.locator("#hermes-nb-sessions .hermes-nb-session")
    row.first.wait_for(timeout=30_000)
    assert row.count() == 1  # this notebook's one session
    meta = row.first.inner_text()
    assert "message(s)" in meta and ("ok" in meta or "interrupted" in meta)
    shot(page, "kill-05-sidebar")
    row.first.locator(".hermes-nb-session-title").click()
    transcript = page.locator(".hermes-nb-transcript", has_text="Resumed: the answer is")
    transcript.first.wait_for(timeout=30_000)
    assert "What is six times seven?" in transcript.first.inner_text()
    shot(page, "kill-06-transcript")

    # Notebook 7 loads the same extension: the killed cell shows its saved run there too.
    page.goto(lab.url("notebooks/kill.ipynb"))
    page.locator(".hermes-nb-run-saved").first.wait_for(state="visible", timeout=90_000)
    page.wait_for_timeout(6000)
    shot(page, "kill-07-notebook7")
    _no_widget_errors(page)
    assert "Saved run" in page.locator(".hermes-nb-run-saved").first.inner_text()


# Each new session gets the first reply; titles come from the request's first words.
SIDE_SCRIPT = {"replies": ["Young animals, and very playful."]}


def test_sidebar_actions_export_use_and_delete(lab: LabServer, page: Any) -> None:
    """The sidebar's actions: Export downloads the Markdown transcript, Use inserts and
    runs ``%agent use ID``, Delete asks, then moves the session file to the trash."""
    (lab.root / "side.json").write_text(json.dumps(SIDE_SCRIPT))
    write_notebook(
        lab.root / "side.ipynb",
        [replay_setup("side.json"), "%%agent\nWhat are kittens?", "%%agent --new\nWhat are puppies?"],
    )
    open_notebook(page, lab, "side.ipynb")
    command(page, "notebook:run-all-cells")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.jp-OutputArea-output')]"
        ".filter(o => o.innerText.includes('very playful')).length === 2",
        timeout=90_000,
    )
    wait_kernel_idle(page)

    page.locator('.jp-SideBar [data-id="hermes-nb-sessions"]').first.click()
    rows = page.locator("#hermes-nb-sessions .hermes-nb-session")
    page.wait_for_function(
        "() => document.querySelectorAll('#hermes-nb-sessions .hermes-nb-session').length === 2",
        timeout=30_000,
    )
    kitten = rows.filter(has_text="kittens")
    puppy = rows.filter(has_text="puppies")
    kitten_id = kitten.first.get_attribute("data-session-id")
    puppy_id = puppy.first.get_attribute("data-session-id")
    assert kitten_id and puppy_id and kitten_id != puppy_id
    shot(page, "side-01-two-sessions")

    with page.expect_download() as download:
        kitten.first.get_by_role("button", name="Export").click()
    exported = Path(download.value.path()).read_text()
    assert download.value.suggested_filename.endswith(".md")
    assert "What are kittens?" in exported and "very playful" in exported

    kitten.first.get_by_role("button", name="Use").click()
    page.get_by_text(f"%agent use {kitten_id}").first.wait_for(timeout=30_000)
    wait_kernel_idle(page)
    cells = page.locator(".jp-Notebook .jp-Cell")
    assert any(f"%agent use {kitten_id}" in cells.nth(i).inner_text() for i in range(cells.count()))

    puppy.first.get_by_role("button", name="Delete").click()
    dialog = page.locator(".jp-Dialog")
    dialog.wait_for(timeout=30_000)
    assert "trash" in dialog.inner_text()
    shot(page, "side-02-delete-dialog")
    dialog.locator(".jp-Dialog-button.jp-mod-warn").click()
    page.wait_for_function(
        "() => document.querySelectorAll('#hermes-nb-sessions .hermes-nb-session').length === 1",
        timeout=30_000,
    )
    sessions = lab.root / ".hermes_nb" / "sessions"
    assert not (sessions / f"{puppy_id}.json").exists()
    assert list((sessions / ".trash").glob(f"{puppy_id}*"))
    assert (sessions / f"{kitten_id}.json").exists()
    shot(page, "side-03-after-delete")


