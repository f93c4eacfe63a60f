"""A saved ``.ipynb`` file as text the model can read: cells, outputs, the running cell.

Reads the JSON directly (nbformat v4 is plain JSON; nbformat itself is not needed at
run time). Everything is bounded: a long notebook ends with a note saying how many
cells were left out and how to ask for them, so the model never mistakes a cut
listing for the whole notebook.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hermes_nb.errors import ToolError, UnreadableFileError
from hermes_nb.safety.fsio import read_regular

__all__ = ["MAX_NOTEBOOK_CHARS", "NotebookCell", "format_notebook", "load_cells"]

MAX_NOTEBOOK_BYTES = 64 * 1024 * 1024  # a notebook file read at all (figures make them large)
MAX_NOTEBOOK_CHARS = 12_000
MAX_SOURCE_CHARS = 3_000
MAX_OUTPUT_CHARS = 1_500
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@dataclass(frozen=True)
class NotebookCell:
    index: int
    cell_type: str
    source: str
    outputs: str
    execution_count: int | None


def load_cells(path: Path) -> list[NotebookCell]:
    """The cells of a saved notebook; a ToolError says what is wrong with the file.

    Read with the bounded, regular-files-only reader: a FIFO or a device named
    ``x.ipynb`` is refused at once instead of hanging or filling the memory.
    """
    try:
        raw = read_regular(path, MAX_NOTEBOOK_BYTES)
    except FileNotFoundError:
        raise ToolError(f"no notebook file at {path}") from None
    except UnreadableFileError as exc:
        raise ToolError(str(exc)) from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ToolError(f"cannot read {path} as a notebook: {type(exc).__name__}: {str(exc)[:200]}") from None
    cells = data.get("cells") if isinstance(data, dict) else None
    if not isinstance(cells, list):
        raise ToolError(f"{path} is not a Jupyter notebook (no 'cells' list)")
    out = []
    for index, cell in enumerate(cells):
        if not isinstance(cell, dict):
            continue
        count = cell.get("execution_count")
        out.append(
            NotebookCell(
                index=index,
                cell_type=str(cell.get("cell_type", "?")),
                source=_joined(cell.get("source")),
                outputs=_outputs_text(cell.get("outputs") or []),
                execution_count=count if isinstance(count, int) else None,
            )
        )
    return out


def format_notebook(
    path: Path,
    cells: list[NotebookCell],
    *,
    start: int = 0,
    end: int | None = None,
    running: int | None = None,
    running_known: bool = True,
    limit: int = MAX_NOTEBOOK_CHARS,
    live: str | None = None,
    note: str = "",
) -> str:
    """Cells ``start`` to ``end`` (inclusive) as text, cut at ``limit`` with a note.

    ``running`` is the index of the ``%%agent`` cell making this request, if it is in
    the file; ``running_known`` False means it could not be told. ``live`` describes
    the live document the cells came from (None: the saved file); ``note`` follows
    the first line (why the saved file was read).
    """
    total = len(cells)
    last = total - 1 if end is None else min(end, total - 1)
    first = max(0, start)
    if live is not None:
        head = f"Notebook {path}: {live}, {total} cells."
    else:
        try:
            saved = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(path.stat().st_mtime))
        except OSError:
            saved = "unknown"
        head = (
            f"Notebook {path}: the saved file (last saved {saved}; edits made since are not "
            f"included), {total} cells."
        )
    if total == 0:
        return head + " It has no cells."
    if first > last:
        return head + f" No cells in the range {start}–{end}; cells are numbered 0–{total - 1}."
    if running is not None:
        head += f" Cell {running} is the running %%agent cell (this request)."
    elif running_known and live is None:
        head += " The running %%agent cell is not in the saved file (typed after the last save)."
    if note:
        head += f" {note}"
    parts = [head]
    size = len(head)
    shown_last = first - 1
    for cell in cells[first : last + 1]:
        block = _cell_text(cell, cell.index == running)
        if size + len(block) > limit and shown_last >= first:
            break
        if size + len(block) > limit:
            block = block[: max(0, limit - size)] + f"\n… (cell cut: {size + len(block) - limit} more characters)"
        parts.append(block)
        size += len(block)
        shown_last = cell.index
    parts.insert(1, f"Showing cells {first}–{shown_last}.")
    if shown_last < last:
        parts.append(
            f"… {last - shown_last} more cells not shown (cells {shown_last + 1}–{last}): "
            f"call read_notebook with start={shown_last + 1} to read on."
        )
    elif last < total - 1:
        parts.append(f"({total - 1 - last} cells after cell {last} not requested.)")
    return "\n\n".join(parts)


def _cell_text(cell: NotebookCell, running: bool) -> str:
    label = f"[{cell.index}] {cell.cell_type}"
    if cell.cell_type == "code":
        label += f", execution count {cell.execution_count}" if cell.execution_count else ", not run"
    if running:
        label += " — the running %%agent cell (this request)"
    source = _cut(cell.source, MAX_SOURCE_CHARS) if cell.source.strip() else "(empty)"
    text = f"{label}\n{source}"
    if cell.outputs and not running:
        text += f"\n→ output:\n{_cut(cell.outputs, MAX_OUTPUT_CHARS)}"
    return text


def _outputs_text(outputs: list[Any]) -> str:
    """Text outputs as the user reads them; images and HTML named, not inlined."""
    parts: list[str] = []
    for out in outputs:
        if not isinstance(out, dict):
            continue
        kind = out.get("output_type")
        if kind == "stream":
            parts.append(_joined(out.get("text")).rstrip("\n"))
        elif kind == "error":
            parts.append(_ANSI.sub("", f"{out.get('ename', 'Error')}: {out.get('evalue', '')}"))
        elif kind in ("execute_result", "display_data"):
            data = out.get("data") or {}
            images = sorted(m for m in data if m.startswith("image/"))
            plain = _joined(data.get("text/markdown") or data.get("text/plain"))
            if images:
                parts.append(f"[{', '.join(images)} output]")
            elif plain.strip():
                parts.append(plain.rstrip("\n"))
            elif data:
                parts.append(f"[{', '.join(sorted(data))} output]")
    return "\n".join(p for p in parts if p)


def _joined(value: Any) -> str:
    if isinstance(value, list):
        return "".join(str(v) for v in value)
    return "" if value is None else str(value)


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n… ({len(text) - limit} more characters in this cell)"
