"""The example notebooks are stored executed, with what nbval needs to check them.

nbval (``pytest --nbval``) re-runs every notebook and compares its outputs with the
stored ones; a cell stored without outputs or an execution count would be compared
with nothing. These tests check what nbval takes for granted.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import nbformat
import pytest

from hermes_nb.agent.providers.replay import load_script
from hermes_nb.models import Session

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
EXAMPLES = sorted(p for p in NOTEBOOKS.glob("*.ipynb") if not p.name.endswith(".out.ipynb"))
IGNORE = "nbval-ignore-output"


def code_cells(path: Path) -> list[Any]:
    return [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


def test_the_examples_are_all_there() -> None:
    names = {p.name for p in EXAMPLES}
    assert {
        "quickstart.ipynb",
        "data_analysis.ipynb",
        "sessions.ipynb",
        "recovery.ipynb",
        "custom_tools.ipynb",
        "offline_quickstart.ipynb",
        "notebook_context.ipynb",
        "mcp.ipynb",
    } <= names


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_each_notebook_is_stored_as_one_clean_run(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    cells = code_cells(path)
    assert [c.execution_count for c in cells] == list(range(1, len(cells) + 1))
    for cell in cells:
        assert not [o for o in cell.outputs if o.output_type == "error"], cell.source
    assert "widgets" not in nb.metadata  # widget state changes on every run
    assert nb.cells[0].cell_type == "markdown"  # each starts by saying what it shows


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_replay_script_a_notebook_names_exists(path: Path) -> None:
    sources = "\n".join(c.source for c in code_cells(path))
    for script in re.findall(r"replay:(\S+?\.json)", sources):
        assert load_script(NOTEBOOKS / script)["replies"], script


def test_the_offline_notebook_compares_everything_but_the_models_words() -> None:
    for cell in code_cells(NOTEBOOKS / "offline_quickstart.ipynb"):
        answered = cell.source.startswith(("%%agent", "%agent history"))
        assert (IGNORE in cell.metadata.get("tags", [])) == answered, cell.source
        if answered:
            assert cell.outputs, cell.source
    text = json.dumps([c.outputs for c in code_cells(NOTEBOOKS / "offline_quickstart.ipynb")])
    assert "local:smollm2" in text


def test_the_recovery_notebook_ships_a_run_a_dead_kernel_left_pending() -> None:
    [path] = (NOTEBOOKS / "recovery_data").glob("*.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    session = Session.from_dict(data)
    assert path.stem == session.session_id
    assert session.active_stream_id and session.active_stream_owner
    assert session.messages == []
    assert session.pending_user_message
    calls = [m for m in session.pending_messages if m.get("tool_calls")]
    results = [m for m in session.pending_messages if m.get("role") == "tool"]
    assert calls and results and results[0]["tool_call_id"] == calls[0]["tool_calls"][0]["id"]
    assert session.pending_partial_text
    assert "sk-" not in path.read_text(encoding="utf-8")


def test_the_offline_notebook_answers_its_follow_up_and_cleans_up() -> None:
    """The follow-up is answered about Italy (the model gets the conversation, not a
    namespace summary it cannot use), and the example removes its sessions folder."""
    cells = code_cells(NOTEBOOKS / "offline_quickstart.ipynb")
    follow_up = next(c for c in cells if "Italy" in c.source)
    answer = json.dumps(follow_up.outputs)
    assert "Rome" in answer and "France" not in answer, answer
    assert "shutil.rmtree(SESSIONS)" in cells[-1].source
