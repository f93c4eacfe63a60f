"""A tool card's status glyphs in chromium: one card while its tool runs, one denied by
policy, then the saved transcript. Screenshots: glyphs-01-running, glyphs-02-denied."""

from __future__ import annotations

import json
from typing import Any

import pytest
from lab_harness import (
    LabServer,
    command,
    open_notebook,
    replay_setup,
    shot,
    wait_kernel_idle,
    write_notebook,
)

from hermes_nb.ui.fragments import REASONING_ICON, STATUS_ICONS

pytestmark = [pytest.mark.browser, pytest.mark.kernel, pytest.mark.slow]

SETUP = replay_setup("glyphs.json") + '\n%config AgentMagics.tool_policies = {"shell": "deny"}'
SCRIPT = {
    "replies": [
        {
            "reasoning": "The sum first, then the disk.",
            "tool_calls": [{"name": "python", "arguments": {"code": "import time\ntime.sleep(6)\n45"}}],
        },
        {"tool_calls": [{"name": "shell", "arguments": {"command": "df -h ."}}]},
        "The sum is 45; the shell was denied.",
    ]
}
TITLES = ".jp-OutputArea-output .widget-accordion, .jp-OutputArea-output .jupyter-widget-Accordion"


def test_running_and_denied_cards_show_their_glyphs(lab: LabServer, page: Any) -> None:
    (lab.root / "glyphs.json").write_text(json.dumps(SCRIPT))
    write_notebook(lab.root / "glyphs.ipynb", [SETUP, "%%agent\nAdd 0 to 9, then check the disk."])
    open_notebook(page, lab, "glyphs.ipynb")
    command(page, "notebook:run-all-cells")

    running = page.locator(TITLES, has_text=f"{STATUS_ICONS['running']} running")
    running.first.wait_for(timeout=60_000)
    shot(page, "glyphs-01-running")

    page.get_by_text("The sum is 45; the shell was denied.").first.wait_for(timeout=60_000)
    wait_kernel_idle(page)
    output = page.locator(".jp-Notebook .jp-Cell").nth(1).locator(".jp-OutputArea")
    text = output.inner_text()
    assert f"{STATUS_ICONS['denied']} denied" in text
    assert f"{STATUS_ICONS['done']} done" in text
    assert f"{REASONING_ICON} Reasoning" in text
    output.locator("details.hermes-nb-tool-denied summary").first.click()
    shot(page, "glyphs-02-denied")
    assert not page.errors  # type: ignore[attr-defined]
