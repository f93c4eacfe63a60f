"""What the notebook-tool browser tests in JupyterLab and Notebook 7 share: starting a
notebook on a scripted model, reading the tool results it saved, and the steps both
apps go through (a read of an unsaved edit, accepting a diff)."""

from __future__ import annotations

import json
from typing import Any

from disk_view import read_session
from lab_harness import (
    LabServer,
    command,
    open_notebook,
    open_notebook7,
    replay_setup,
    shot,
    wait_kernel_idle,
    write_notebook,
)

__all__ = [
    "CELL_SOURCES",
    "READ_CELLS",
    "READ_SCRIPT",
    "accept_the_first_diff",
    "read_after_an_unsaved_edit",
    "start",
    "start_notebook7",
    "tool_results",
]

CELL_SOURCES = "() => { const cells = window.jupyterapp.shell.currentWidget.content.model.cells;" \
    " const out = []; for (let i = 0; i < cells.length; i++) { const c = cells.get(i);" \
    " out.push([c.type, c.sharedModel.getSource()]); } return out; }"  # fmt: skip


def tool_results(lab: LabServer, notebook: str) -> list[str]:
    """The tool results of the session of ``notebook``, in order."""
    found = []
    for path in sorted((lab.root / ".hermes_nb" / "sessions").glob("*.json")):
        if path.name.startswith("_"):
            continue
        session = read_session(path)  # with the turns still in its journal
        if session.get("notebook") == notebook:
            found += [m["content"] for m in session["messages"] if m["role"] == "tool"]
    return found


def _write(lab: LabServer, name: str, script: dict[str, Any], cells: list[str]) -> None:
    """``name.ipynb`` (a replay setup cell, then ``cells``) and its script ``name.json``."""
    (lab.root / f"{name}.json").write_text(json.dumps(script))
    write_notebook(lab.root / f"{name}.ipynb", [replay_setup(f"{name}.json"), *cells])


def start(lab: LabServer, page: Any, name: str, script: dict[str, Any], cells: list[str]) -> None:
    """Open the notebook in JupyterLab."""
    _write(lab, name, script, cells)
    open_notebook(page, lab, f"{name}.ipynb")


# Errors Notebook 7.6 throws by itself, with hermes_nb's extension disabled too: its
# keyboard-shortcuts plugin on every page (it reads the schema of a plugin it has not
# got), and its restore of the recent documents JupyterLab saved in the shared
# workspace (a command only JupyterLab has). Thrown in Notebook 7's own bundle.
NOTEBOOK7_OWN_ERRORS = {
    "Cannot read properties of undefined (reading 'schema')",
    "Command 'filebrowser:open-path' not registered.",
}
NOTEBOOK7_BUNDLE = "/static/notebook/"


def start_notebook7(lab: LabServer, page: Any, name: str, script: dict[str, Any], cells: list[str]) -> list[str]:
    """Open the notebook in Notebook 7; the page's errors, except Notebook 7's own."""
    errors: list[str] = []

    def collect(exc: Any) -> None:
        message, stack = str(exc.message), str(exc.stack or "")
        top = (stack.splitlines() + ["", ""])[1]  # the frame that threw
        if message not in NOTEBOOK7_OWN_ERRORS or NOTEBOOK7_BUNDLE not in top:
            errors.append(stack or message)

    page.on("pageerror", collect)
    _write(lab, name, script, cells)
    open_notebook7(page, lab, f"{name}.ipynb")
    # the Notebook 7 page, not JupyterLab's
    assert "/notebooks/" in page.url
    assert page.evaluate("() => window.jupyterapp.name") == "Jupyter Notebook"
    return errors


READ_SCRIPT = {"replies": [{"tool_calls": [{"name": "read_notebook", "arguments": {}}]}, "I read your notebook."]}
READ_CELLS = ["value = 1", "%%agent\nWhat does my notebook do?"]


def read_after_an_unsaved_edit(lab: LabServer, page: Any, name: str, app: str) -> None:
    """Type into cell 1 without saving and run the notebook, whose agent reads it: the
    read saw the typed text, said it read the live document in ``app``, and the file
    on disk never held the text. The notebook ``name`` is open (``READ_SCRIPT``)."""
    editor = page.locator(".jp-Notebook .jp-Cell").nth(1).locator(".cm-content")
    editor.click()
    page.keyboard.press("End")
    page.keyboard.type("  # typed, never saved")
    command(page, "notebook:run-all-cells")
    page.get_by_text("I read your notebook.").first.wait_for(timeout=90_000)
    wait_kernel_idle(page)
    [result] = tool_results(lab, f"{name}.ipynb")
    assert f"the live document open in {app} (read live: unsaved edits included)" in result
    assert "value = 1  # typed, never saved" in result
    assert "It has unsaved changes." in result
    assert "Cell 2 is the running %%agent cell" in result
    assert "never saved" not in (lab.root / f"{name}.ipynb").read_text()  # it really was unsaved


def accept_the_first_diff(page: Any, screenshot: str) -> None:
    """Run the notebook (cell 1 ``total = 41``, then an agent cell whose first reply
    edits it to 42), check the diff shown in cell 1, accept it, wait for "Changed."."""
    command(page, "notebook:run-all-cells")
    diff = page.locator(".hermes-nb-diff")
    diff.first.wait_for(state="visible", timeout=90_000)
    page.wait_for_timeout(500)
    shot(page, screenshot)
    lines = diff.first.locator(".hermes-nb-diff-line").all_inner_texts()
    assert lines == ["- total = 41", "+ total = 42", "  print(total)"]
    assert "+1 −1 lines" in diff.first.inner_text()
    # the diff sits in the cell it changes
    assert page.locator(".jp-Notebook .jp-Cell").nth(1).locator(".hermes-nb-diff").count() == 1
    diff.first.get_by_role("button", name="Accept").click()
    page.get_by_text("Changed.").first.wait_for(timeout=60_000)
