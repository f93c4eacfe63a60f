"""A page closed during a run before the notebook was saved, in JupyterLab: reopened,
the ``%%agent`` cell shows its run from the session file, follows it to its end, and
puts the final transcript into the cell when asked; the page that joined the run
midway logs no errors when the run ends. Screenshots: unsaved-*.png."""

from __future__ import annotations

import json
from typing import Any

import pytest
from lab_harness import LabServer, command, replay_setup, shot, write_notebook

pytestmark = [pytest.mark.browser, pytest.mark.kernel, pytest.mark.slow]

RUN_MIME = "application/vnd.hermes-nb.run+json"

# Streams, runs a 15-second tool, then answers.
SLOW_SCRIPT = {
    "replies": [
        {
            "chunks": ["Let ", "me ", "count ", "in ", "the ", "kernel."],
            "delay": 0.2,
            "tool_calls": [{"name": "python", "arguments": {"code": "import time\ntime.sleep(15)\nsum(range(10))"}}],
        },
        {"chunks": ["The ", "count ", "is ", "**45**."], "delay": 0.2},
    ]
}
REQUEST = "Count from 0 to 9 and add them up."


def console_errors(page: Any) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    return errors


def open_running(page: Any, lab: LabServer, name: str) -> None:
    """Open a notebook whose kernel may be busy (no wait for an idle kernel)."""
    page.goto(lab.url(f"lab/tree/{name}?reset"))
    page.wait_for_function("() => !!window.jupyterapp", timeout=120_000)
    page.wait_for_function(
        "(name) => { const w = window.jupyterapp.shell.currentWidget;"
        " return !!w && !!w.context && w.context.path === name && !!w.content.widgets.length"
        " && !!w.sessionContext.session && !!w.sessionContext.session.kernel; }",
        arg=name,
        timeout=120_000,
    )


def test_a_run_the_notebook_was_not_saved_with_is_shown_and_can_be_kept(
    lab: LabServer, browser: Any
) -> None:
    (lab.root / "unsaved.json").write_text(json.dumps(SLOW_SCRIPT))
    write_notebook(lab.root / "unsaved.ipynb", [replay_setup("unsaved.json"), f"%%agent\n{REQUEST}"])

    first = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    open_running(first, lab, "unsaved.ipynb")
    command(first, "notebook:run-all-cells")
    first.get_by_text("Let me count in the kernel.").first.wait_for(timeout=90_000)
    shot(first, "unsaved-01-running")
    first.context.close()  # closed mid-run, never saved

    page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    errors = console_errors(page)
    open_running(page, lab, "unsaved.ipynb")
    found = page.locator(".hermes-nb-unsaved-run")
    found.first.wait_for(timeout=60_000)
    assert "not saved in the notebook" in found.first.inner_text()
    saved = found.first.locator(".hermes-nb-run-saved")
    saved.first.wait_for(timeout=30_000)
    assert REQUEST in saved.first.text_content()
    shot(page, "unsaved-02-reopened-mid-run")
    assert saved.first.get_attribute("data-state") == "live", saved.first.inner_text()

    # followed to its end
    found.first.locator('.hermes-nb-run-saved[data-state="done"]').wait_for(timeout=90_000)
    assert "The count is 45." in found.first.inner_text().replace("**", "")
    page.wait_for_timeout(3000)  # the kernel closes the run's widgets and comm
    shot(page, "unsaved-03-finished")

    found.first.get_by_role("button", name="Put the transcript in the cell").click()
    page.locator(".hermes-nb-unsaved-run").first.wait_for(state="detached", timeout=30_000)
    kept = page.locator(".jp-Cell:nth-child(2) .hermes-nb-run-saved")
    kept.first.wait_for(timeout=30_000)
    assert "45" in kept.first.inner_text() and kept.first.get_attribute("data-state") == "done"
    shot(page, "unsaved-04-kept")
    command(page, "docmanager:save", wait=True)
    page.wait_for_timeout(1000)
    stored = json.loads((lab.root / "unsaved.ipynb").read_text())
    [output] = stored["cells"][1]["outputs"]
    assert output["data"][RUN_MIME]["run_id"] and "45" in "".join(output["data"]["text/html"])
    assert [e for e in errors if "Comm not found" in e] == [], errors
    page.context.close()
