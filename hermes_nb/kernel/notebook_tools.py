"""Notebook tools: ``insert_cell`` (a new cell), ``read_notebook`` (the cells) and
``edit_cell`` (a change the user accepts or rejects in a diff).

With the JupyterLab side attached to this kernel, all three go through the page
(``notebook_live``): the live document is read, a cell can be inserted anywhere,
and an edit is shown as a diff in the cell. Without it:

``insert_cell`` uses the kernel's ``set_next_input`` payload, which notebook
frontends act on when the cell finishes, with no extension installed. It can only
*ask* for a cell: whether one appears depends on the frontend, and the tool's
result says exactly that, so the model never claims a cell exists that does not.
Measured and read from the frontends' code: JupyterLab and Notebook 7 act on the
first ``set_next_input`` payload of a reply only, and always insert a code cell;
VS Code inserts one cell per payload; nbclient, nbval and ``jupyter execute``
ignore payloads; terminal IPython pre-fills the next prompt. Hence one cell per
request, and Markdown goes into a code cell that starts with ``%%markdown``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from hermes_nb.agent.tools.builtin import is_inside
from hermes_nb.agent.tools.registry import ToolOutput, ToolRegistry, current_policy
from hermes_nb.errors import ToolError
from hermes_nb.kernel import notebook_live

__all__ = ["Frontend", "detect_frontend", "notebook_tools"]

Frontend = str  # "terminal" | "jupyterlab" | "vscode" | "console" | "headless" | "none"

_NEXT_INPUT = "set_next_input"


def detect_frontend(shell: Any, user_ns: Mapping[str, Any], environ: Mapping[str, str]) -> Frontend:
    """Which kind of frontend shows this kernel's output, as far as the kernel can tell.

    ``headless`` means a kernel whose client never said which notebook it runs
    (nbclient, nbval, ``jupyter execute``, or an unknown frontend); ``console`` a
    JupyterLab code console.
    """
    if shell is None:
        return "none"
    if type(shell).__name__ != "ZMQInteractiveShell":
        return "terminal"
    if user_ns.get("__vsc_ipynb_file__"):
        return "vscode"
    session = user_ns.get("__session__") or environ.get("JPY_SESSION_NAME")
    if session:
        # a JupyterLab console's session is named like "console-1-<uuid>", not a notebook
        return "jupyterlab" if str(session).endswith(".ipynb") else "console"
    return "headless"


def notebook_tools(
    shell: Any,
    *,
    running_request: Callable[[], str | None] = lambda: None,
    environ: Mapping[str, str] | None = None,
    link: notebook_live.Link | None = None,
    root: str | os.PathLike[str] | None = None,
) -> ToolRegistry:
    """``insert_cell``, ``read_notebook`` and ``edit_cell`` for the kernel behind ``shell``.

    ``running_request`` returns the text of the ``%%agent`` cell now running, so
    ``read_notebook`` can point it out. ``link`` reaches the JupyterLab page (default:
    this kernel's ``FrontendLink``). ``read_notebook(path=...)`` follows the file tools'
    folder policy: unasked inside ``root`` (the notebook's folder; default: the working
    directory when called), asked for any other path.
    """
    env = os.environ if environ is None else environ

    def in_folder(arguments: dict[str, Any]) -> bool:
        path = arguments.get("path")
        return not path or is_inside(path, root if root is not None else os.getcwd())

    def user_ns() -> Mapping[str, Any]:
        return getattr(shell, "user_ns", {}) if shell is not None else {}

    def page() -> tuple[notebook_live.Link, Path] | None:
        """The JupyterLab page showing this notebook, when one is attached."""
        nonlocal link
        if detect_frontend(shell, user_ns(), env) != "jupyterlab":
            return None
        if link is None:
            from hermes_nb.kernel.frontend_link import FrontendLink

            link = FrontendLink()
        from hermes_nb.kernel.notebook_location import find_notebook

        notebook = find_notebook(user_ns(), env).path
        if notebook is None or not link.attached():
            return None
        return link, notebook

    def insert_cell(source: str, cell_type: str = "code", index: int | None = None) -> ToolOutput:
        """Add a new cell for the user to review and run (it is not run). Without index
        it goes directly below the running %%agent cell (one such cell per request).
        With index (0 = top; indices as read_notebook shows them) it is inserted there,
        which needs JupyterLab's hermes_nb extension. The result says where it went and
        whether this frontend shows it; never claim more than it says.

        Args:
            source: The new cell's content.
            cell_type: "code" (default) or "markdown".
            index: Where the new cell goes (it then has this index); default: below the %%agent cell.
        """
        if cell_type not in ("code", "markdown"):
            raise ToolError(f"cell_type must be 'code' or 'markdown', not {cell_type!r}")
        if index is not None:
            index = _cell_index(index)
            live = page()
            if live is not None:
                return notebook_live.insert_live(live[0], live[1], source, cell_type, index)
        frontend = detect_frontend(shell, user_ns(), env)
        output = _insert(shell, frontend, source, cell_type)
        if index is None or output.is_error:
            return output
        return ToolOutput(
            f"Index {index} could not be honoured: placing a cell anywhere but below the "
            "%%agent cell needs JupyterLab with the hermes_nb extension, which this kernel "
            f"does not have. Instead: {output.text}"
        )

    def read_notebook(start: int = 0, end: int | None = None, path: str | None = None) -> ToolOutput:
        """Read the notebook's cells: index, type, source, text outputs, execution
        count, and which cell is the running %%agent request. In JupyterLab it reads the
        live document (unsaved edits included), elsewhere the saved file; the result
        says which. Long notebooks are cut with a note; ask for a range with start/end.

        Args:
            start: First cell index to show (0-based).
            end: Last cell index to show (inclusive); default: to the end.
            path: The .ipynb file, when the kernel cannot tell which notebook it runs.
        """
        note = ""
        if not path:
            live = page()
            if live is not None:
                text, note = notebook_live.read_live(
                    live[0], live[1], start=int(start or 0), end=None if end is None else int(end),
                    request=running_request(), find_running=_running_cell,
                )  # fmt: skip
                if text is not None:
                    return ToolOutput(text)
            elif detect_frontend(shell, user_ns(), env) == "jupyterlab":
                note = "(No JupyterLab page with the hermes_nb extension is attached to this kernel, so unsaved edits are not seen.)"
        return _read(shell, user_ns(), env, running_request(), start, end, path, note)

    def edit_cell(index: int, source: str) -> ToolOutput:
        """Replace the whole source of an existing cell. The user sees the change as a
        diff in that cell and accepts or rejects it; the result says which (or that this
        frontend cannot show it: then nothing changed). Needs JupyterLab with the
        hermes_nb extension. Read the notebook first; never claim an edit the result does
        not confirm. The cell is not run.

        Args:
            index: The cell to change (as read_notebook numbers them).
            source: The cell's complete new source.
        """
        index = _cell_index(index)
        live = page()
        if live is None:
            return _cannot_edit(detect_frontend(shell, user_ns(), env), index)
        ask = current_policy() != "allow"
        return notebook_live.edit_live(live[0], live[1], index, source, ask=ask, request=running_request())

    registry = ToolRegistry()
    registry.register(insert_cell, needs_kernel=True, policy="allow")
    registry.register(read_notebook, needs_kernel=True, policy="folder", scope=in_folder)
    registry.register(edit_cell, needs_kernel=True, policy="ask", approves_itself=True)
    return registry


def _cell_index(value: Any) -> int:
    """A cell index from the model: an int, or digits in a string (some models quote numbers)."""
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ToolError(f"index must be a cell index (0 or more), not {value!r}")
    return value


_EDIT_WHERE = {
    "jupyterlab": "this JupyterLab or Notebook 7 page does not have the hermes_nb extension attached to this kernel",
    "vscode": "VS Code cannot show a change for approval from the kernel",
    "headless": "this kernel runs without an interactive notebook page (nbclient, nbval, jupyter execute)",
    "terminal": "this is terminal IPython, which has no cells",
    "console": "this is a code console, which has no cells to edit",
    "none": "there is no IPython shell here",
}


def _cannot_edit(frontend: Frontend, index: int) -> ToolOutput:
    where = _EDIT_WHERE.get(frontend, "this frontend cannot show a change for approval")
    return ToolOutput(
        f"Not possible here: {where}, so cell {index} was not changed. Show the new code in "
        "your answer for the user to apply, or add it as a new cell with insert_cell.",
        is_error=True,
    )


# --------------------------------------------------------------------------- insert_cell


def _insert(shell: Any, frontend: Frontend, source: str, cell_type: str) -> ToolOutput:
    if cell_type not in ("code", "markdown"):
        raise ToolError(f"cell_type must be 'code' or 'markdown', not {cell_type!r}")
    if frontend == "none":
        return ToolOutput("Not inserted: there is no IPython shell here, so no cell can be added.", is_error=True)
    text = source if cell_type == "code" else "%%markdown\n" + source
    as_markdown = (
        " It is a code cell that starts with %%markdown (notebook frontends insert only "
        "code cells this way); running it shows the Markdown."
        if cell_type == "markdown"
        else ""
    )
    if frontend == "console":
        return ToolOutput(
            "This is a code console, not a notebook: no cell can be added. Show the code in "
            "your answer instead.",
            is_error=True,
        )
    if frontend == "terminal":
        if getattr(shell, "rl_next_input", None):
            return _already()
        shell.set_next_input(text)
        return ToolOutput(
            "This is terminal IPython, not a notebook: no cell was added. The text will be "
            "pre-filled at the user's next prompt when this request ends, for them to edit "
            "and run. Nothing was run." + as_markdown
        )
    manager = shell.payload_manager
    if any(p.get("source") == _NEXT_INPUT for p in manager.read_payload()):
        return _already()
    manager.write_payload({"source": _NEXT_INPUT, "text": text, "replace": False}, single=False)
    if frontend == "headless":
        return ToolOutput(
            "Not inserted: this kernel runs without an interactive notebook frontend that "
            "shows new cells (nbclient, nbval, jupyter execute or an unknown client). The "
            "request for the cell went out with this cell's reply, but most likely nobody "
            "sees it. Show the code in your answer instead.",
            is_error=True,
        )
    where = "VS Code" if frontend == "vscode" else "JupyterLab / Jupyter Notebook"
    return ToolOutput(
        f"Requested a new {cell_type} cell directly below the running %%agent cell. {where} "
        "inserts it when this %%agent cell finishes, so it does not exist yet while you "
        "work; it will not be run. Tell the user to review and run it." + as_markdown
    )


def _already() -> ToolOutput:
    return ToolOutput(
        "Not inserted: a new cell was already requested in this request, and notebook "
        "frontends show only one per cell run. Put everything into that one cell in a later "
        "request, or show this code in your answer.",
        is_error=True,
    )


# --------------------------------------------------------------------------- read_notebook


def _read(
    shell: Any,
    user_ns: Mapping[str, Any],
    environ: Mapping[str, str],
    running_request: str | None,
    start: int,
    end: int | None,
    path: str | None,
    note: str = "",
) -> ToolOutput:
    from hermes_nb.context.notebook_file import format_notebook, load_cells
    from hermes_nb.kernel.notebook_location import find_notebook

    if shell is not None and type(shell).__name__ != "ZMQInteractiveShell" and not path:
        return ToolOutput(
            "No notebook: this is terminal IPython, which has no cells to read.", is_error=True
        )
    if path:
        target = Path(path).expanduser()
        if target.suffix != ".ipynb":
            raise ToolError(f"{path} is not a notebook file (.ipynb)")
    else:
        location = find_notebook(user_ns, environ)
        if location.path is None:
            return ToolOutput(
                "The kernel cannot tell which notebook it runs (nbclient, nbval and jupyter "
                "execute do not say). Call read_notebook again with path='<name>.ipynb' (a "
                "path relative to the notebook's folder), or ask the user which notebook.",
                is_error=True,
            )
        target = location.path
        if target.suffix != ".ipynb":
            return ToolOutput(
                f"This kernel does not run a notebook (its frontend is {target.name!r}, a "
                "console or another client), so there are no cells to read.",
                is_error=True,
            )
    cells = load_cells(target)
    running = _running_cell(cells, running_request)
    return ToolOutput(
        format_notebook(
            target,
            cells,
            start=int(start or 0),
            end=None if end is None else int(end),
            running=running,
            running_known=running_request is not None,
            note=note,
        )
    )


def _running_cell(cells: list[Any], request: str | None) -> int | None:
    """The last ``%%agent`` cell whose request text is ``request``."""
    if not request:
        return None
    wanted = request.strip()
    found = None
    for cell in cells:
        lines = cell.source.lstrip().split("\n", 1)
        if cell.cell_type == "code" and lines[0].startswith("%%agent"):
            body = lines[1].strip() if len(lines) > 1 else ""
            if body == wanted:
                found = cell.index
    return found
