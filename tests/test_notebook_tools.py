"""insert_cell and read_notebook without a kernel: fake shells of each kind, real files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from shell_fakes import TerminalInteractiveShell, ZMQInteractiveShell

from hermes_nb.context.notebook_file import format_notebook, load_cells
from hermes_nb.errors import ToolError
from hermes_nb.kernel.notebook_tools import detect_frontend, notebook_tools


def call(shell: Any, name: str, env: dict[str, str] | None = None, request: str | None = None, **args: Any) -> Any:
    tools = notebook_tools(shell, environ=env or {}, running_request=lambda: request)
    tool = tools.get(name)
    assert tool is not None
    return tool.call(args)


def test_frontends_are_told_apart() -> None:
    assert detect_frontend(None, {}, {}) == "none"
    assert detect_frontend(TerminalInteractiveShell(), {}, {}) == "terminal"
    assert detect_frontend(ZMQInteractiveShell(), {"__vsc_ipynb_file__": "/a.ipynb"}, {}) == "vscode"
    assert detect_frontend(ZMQInteractiveShell(), {"__session__": "a.ipynb"}, {}) == "jupyterlab"
    assert detect_frontend(ZMQInteractiveShell(), {}, {"JPY_SESSION_NAME": "/a.ipynb"}) == "jupyterlab"
    assert detect_frontend(ZMQInteractiveShell(), {}, {}) == "headless"
    assert detect_frontend(ZMQInteractiveShell(), {"__session__": "console-1-3f2a"}, {}) == "console"


def test_a_jupyterlab_console_gets_no_cell_and_has_none_to_read() -> None:
    shell = ZMQInteractiveShell({"__session__": "console-1-3f2a"})
    inserted = call(shell, "insert_cell", source="x = 1")
    assert inserted.is_error and inserted.text.startswith("This is a code console, not a notebook")
    assert shell.payload_manager.read_payload() == []
    read = call(shell, "read_notebook")
    assert read.is_error and "does not run a notebook" in read.text


def test_insert_cell_in_jupyterlab_asks_for_one_cell_and_says_so() -> None:
    shell = ZMQInteractiveShell({"__session__": "a.ipynb"})
    first = call(shell, "insert_cell", source="print(1)")
    assert not first.is_error and first.text.startswith("Requested a new code cell directly below")
    assert "JupyterLab" in first.text and "will not be run" in first.text
    second = call(shell, "insert_cell", source="print(2)")
    assert second.is_error and "already requested" in second.text
    assert shell.payload_manager.read_payload() == [{"source": "set_next_input", "text": "print(1)", "replace": False}]


def test_markdown_goes_into_a_markdown_magic_cell_and_bad_types_are_refused() -> None:
    shell = ZMQInteractiveShell({"__vsc_ipynb_file__": "/a.ipynb"})
    out = call(shell, "insert_cell", source="# Title", cell_type="markdown")
    assert "VS Code" in out.text and "%%markdown" in out.text
    assert shell.payload_manager.read_payload()[0]["text"] == "%%markdown\n# Title"
    with pytest.raises(ToolError, match="cell_type must be"):
        call(ZMQInteractiveShell(), "insert_cell", source="x", cell_type="raw")


def test_insert_cell_headless_and_in_the_terminal_tells_the_truth() -> None:
    headless = call(ZMQInteractiveShell(), "insert_cell", source="x = 1")
    assert headless.is_error and headless.text.startswith("Not inserted: this kernel runs without")
    term = TerminalInteractiveShell()
    out = call(term, "insert_cell", source="x = 1")
    assert "terminal IPython, not a notebook: no cell was added" in out.text
    assert term.rl_next_input == "x = 1"
    assert "already requested" in call(term, "insert_cell", source="y = 2").text


def _notebook(tmp_path: Path, n: int = 3, big: str = "") -> Path:
    cells: list[dict[str, Any]] = [{"cell_type": "markdown", "metadata": {}, "source": "# Intro"}]
    for i in range(1, n):
        cells.append(
            {
                "cell_type": "code",
                "metadata": {},
                "execution_count": i,
                "source": [f"x{i} = {i}\n", big, f"x{i}"],
                "outputs": [
                    {"output_type": "execute_result", "execution_count": i, "metadata": {}, "data": {"text/plain": [str(i)]}},
                    {"output_type": "display_data", "metadata": {}, "data": {"image/png": "AAAA", "text/plain": "<Figure>"}},
                    {"output_type": "error", "ename": "ValueError", "evalue": "\x1b[0;31mbad\x1b[0m", "traceback": []},
                ],
            }
        )
    cells.append({"cell_type": "code", "metadata": {}, "execution_count": None, "source": "%%agent\nSummarise this", "outputs": []})
    path = tmp_path / "work.ipynb"
    path.write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells}))
    return path


def test_a_saved_notebook_is_listed_with_outputs_and_the_running_cell(tmp_path: Path) -> None:
    path = _notebook(tmp_path)
    shell = ZMQInteractiveShell()
    text = call(shell, "read_notebook", {"JPY_SESSION_NAME": str(path)}, request="Summarise this").text
    assert text.startswith(f"Notebook {path}: the saved file (last saved ")
    assert "4 cells. Cell 3 is the running %%agent cell (this request)." in text
    assert "[1] code, execution count 1\nx1 = 1\nx1\n→ output:\n1\n[image/png output]\nValueError: bad" in text
    assert "[3] code, not run — the running %%agent cell (this request)\n%%agent\nSummarise this" in text
    other = call(shell, "read_notebook", {"JPY_SESSION_NAME": str(path)}, request="Something else").text
    assert "The running %%agent cell is not in the saved file" in other


def test_a_long_notebook_is_cut_with_a_note_and_read_by_range(tmp_path: Path) -> None:
    path = _notebook(tmp_path, n=40, big="y = '" + "z" * 600 + "'\n")
    cells = load_cells(path)
    text = format_notebook(path, cells, limit=4000)
    assert len(text) < 4600
    last_line = text.splitlines()[-1]
    assert last_line.startswith("… ") and "more cells not shown" in last_line and "start=" in last_line
    start = int(last_line.split("start=")[1].split()[0])
    rest = format_notebook(path, cells, start=start, end=start + 1)
    assert f"Showing cells {start}–{start + 1}." in rest and f"[{start}] code" in rest
    assert "cells after cell" in rest
    assert "No cells in the range 99–" in format_notebook(path, cells, start=99)


def test_read_notebook_without_a_known_notebook_asks_for_a_path(tmp_path: Path) -> None:
    path = _notebook(tmp_path)
    shell = ZMQInteractiveShell()
    refused = call(shell, "read_notebook")
    assert refused.is_error and "path='<name>.ipynb'" in refused.text
    given = call(shell, "read_notebook", path=str(path))
    assert "[0] markdown\n# Intro" in given.text
    with pytest.raises(ToolError, match="not a notebook file"):
        call(shell, "read_notebook", path=str(tmp_path / "notes.txt"))
    with pytest.raises(ToolError, match="no notebook file"):
        call(shell, "read_notebook", path=str(tmp_path / "gone.ipynb"))
    terminal = call(TerminalInteractiveShell(), "read_notebook")
    assert terminal.is_error and "terminal IPython" in terminal.text


def test_read_notebook_finds_the_file_vscode_names(tmp_path: Path) -> None:
    path = _notebook(tmp_path)
    shell = ZMQInteractiveShell({"__vsc_ipynb_file__": str(path)})
    text = call(shell, "read_notebook", request="Summarise this", start=3).text
    assert text.startswith(f"Notebook {path}: the saved file")
    assert "Showing cells 3–3." in text and "the running %%agent cell" in text
