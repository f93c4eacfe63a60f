"""The notebook tools' live route: the JupyterLab page reads, inserts and edits cells.

Each function asks the page through ``FrontendLink`` and turns its answer into the
result the model sees. The result says only what the page reported: a cell is said
to be changed only when the page answered that it applied the change; a page that
does not answer in time means nothing changed (the request is then withdrawn, and
a late answer is refused).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from hermes_nb.agent.tools.registry import ToolOutput, current_cancel
from hermes_nb.context.notebook_file import NotebookCell, format_notebook
from hermes_nb.kernel.frontend_link import Reply

__all__ = ["READ_TIMEOUT", "SHOWN_TIMEOUT", "Link", "edit_live", "insert_live", "live_cells", "read_live"]

#: how long a read or an insert waits for the page (a closed tab leaves a stale marker)
READ_TIMEOUT = 3.0
#: how long the page has to show a diff; the user's answer itself is awaited until Stop
SHOWN_TIMEOUT = 3.0


class Link(Protocol):
    def attached(self) -> bool: ...

    def ask(
        self, op: str, data: dict[str, Any], timeout: float | None, cancel: Any = None, *,
        shown_timeout: float | None = None,
    ) -> Reply: ...  # fmt: skip


def _no_answer(reply: Reply, what: str) -> str:
    if reply.why == "timeout":
        return f"no JupyterLab page answered within {READ_TIMEOUT:.0f} s (the tab may be closed), so {what}"
    if reply.why == "cancelled":
        return f"the run was cancelled, so {what}"
    return f"{reply.why or 'the page did not answer'}, so {what}"


# --------------------------------------------------------------------------- read


def _app_name(answer: dict[str, Any]) -> str:
    """The application the page runs ("JupyterLab", "Jupyter Notebook" for Notebook 7),
    as the page names it; JupyterLab for a page that does not say."""
    name = answer.get("app")
    if isinstance(name, str) and 0 < len(name) <= 40 and name.isprintable():
        return name
    return "JupyterLab"


def live_cells(answer: dict[str, Any]) -> list[NotebookCell] | None:
    """The cells of the page's answer; None when it is not a list of cells."""
    raw = answer.get("cells")
    if not isinstance(raw, list):
        return None
    cells = []
    for index, cell in enumerate(raw):
        if not isinstance(cell, dict):
            return None
        count = cell.get("execution_count")
        cells.append(
            NotebookCell(
                index=index,
                cell_type=str(cell.get("cell_type", "?")),
                source=str(cell.get("source", "")),
                outputs=str(cell.get("outputs", "")),
                execution_count=count if isinstance(count, int) and not isinstance(count, bool) else None,
            )
        )
    return cells


def read_live(
    link: Link, path: Path, *, start: int, end: int | None, request: str | None, find_running: Any
) -> tuple[str | None, str]:
    """(the live notebook as text, "") or (None, why the saved file is read instead)."""
    reply = link.ask("read", {"path": str(path)}, READ_TIMEOUT, current_cancel())
    answer = reply.data
    if answer is None:
        return None, _no_answer(reply, "this is the saved file instead.")
    cells = live_cells(answer) if answer.get("status") == "ok" else None
    if cells is None:
        return None, f"The JupyterLab page could not read the notebook ({answer.get('error') or answer.get('status')}), so this is the saved file."
    dirty = " It has unsaved changes." if answer.get("dirty") else " It has no unsaved changes."
    running = find_running(cells, request)
    text = format_notebook(
        path,
        cells,
        start=start,
        end=end,
        running=running,
        running_known=request is not None,
        live=f"the live document open in {_app_name(answer)} (read live: unsaved edits included)",
        note=dirty.strip(),
    )
    return text, ""


# --------------------------------------------------------------------------- insert


def insert_live(link: Link, path: Path, source: str, cell_type: str, index: int) -> ToolOutput:
    """Insert a cell at ``index`` of the live document."""
    data = {"path": str(path), "index": index, "source": source, "cell_type": cell_type}
    reply = link.ask("insert", data, READ_TIMEOUT, current_cancel())
    answer = reply.data
    if answer is None:
        return ToolOutput("Not inserted: " + _no_answer(reply, "no cell was added."), is_error=True)
    status = answer.get("status")
    if status == "inserted":
        at = answer.get("index", index)
        return ToolOutput(
            f"Inserted a new {cell_type} cell at index {at} of the live notebook (cells after it "
            "moved down by one). It was not run; tell the user to review and run it. The "
            "notebook is not saved by this."
        )
    if status == "bad_index":
        return ToolOutput(
            f"Not inserted: index {index} is outside the notebook, which has {answer.get('cells')} "
            f"cells (use 0–{answer.get('cells')}).",
            is_error=True,
        )
    return ToolOutput(f"Not inserted: the JupyterLab page answered {status!r}.", is_error=True)


# --------------------------------------------------------------------------- edit


def edit_live(link: Link, path: Path, index: int, source: str, *, ask: bool, request: str | None) -> ToolOutput:
    """Show the change as a diff in the cell and report what the user did with it."""
    data = {"path": str(path), "index": index, "source": source, "ask": ask, "request": request or ""}
    try:
        reply = link.ask("edit", data, None, current_cancel(), shown_timeout=SHOWN_TIMEOUT)
    except KeyboardInterrupt as exc:  # Stop: the answer may have come at that very moment
        late = getattr(exc, "reply", None)
        if late is not None and late.data is not None:
            exc.output = edit_result(late.data, index)  # type: ignore[attr-defined]
        raise
    if reply.data is None:
        return ToolOutput("Not changed: " + _no_answer(reply, f"cell {index} is unchanged."), is_error=True)
    return edit_result(reply.data, index)


def edit_result(answer: dict[str, Any], index: int) -> ToolOutput:
    """The model's result for the page's answer to an edit."""
    status = answer.get("status")
    if status == "accepted":
        how = "The user accepted the change" if answer.get("asked", True) else "Applied without asking (policy allow)"
        return ToolOutput(
            f"{how}: cell {index} now holds the new source. It was not run; the notebook is not saved by this."
        )
    if status == "rejected":
        return ToolOutput(
            f"The user rejected the change: cell {index} is unchanged. Do not make this change "
            "again unless the user asks for it.",
            is_error=True,
        )
    if status == "bad_index":
        total = answer.get("cells")
        return ToolOutput(
            f"Not changed: there is no cell {index}; the notebook has {total} cells "
            f"(0–{int(total) - 1 if isinstance(total, int) else '?'}). Call read_notebook to see them.",
            is_error=True,
        )
    if status == "stale":
        return ToolOutput(
            f"Not changed: cell {index} was edited while the change was shown, so it was not "
            "applied. Call read_notebook to see its current source.",
            is_error=True,
        )
    if status == "running":
        return ToolOutput(
            f"Not changed: cell {index} is the running %%agent cell (this request); it cannot be edited.",
            is_error=True,
        )
    if status == "unchanged":
        return ToolOutput(f"Nothing to change: cell {index} already holds exactly this source.")
    if status == "gone":
        return ToolOutput(f"Not changed: the request was withdrawn; cell {index} is unchanged.", is_error=True)
    return ToolOutput(f"Not changed: the JupyterLab page answered {status!r}; cell {index} is unchanged.", is_error=True)
