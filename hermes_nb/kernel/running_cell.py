"""What the kernel knows about the cell that is running now.

A notebook kernel keeps the request that started the cell (its code, and whether the
sender can answer ``input()``); a terminal IPython has neither. The magics read these
facts to decide how a run shows itself: alone in its cell, headless, or continuing a
run the same cell resumes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

__all__ = ["alone_in_cell", "cell_code", "headless", "resumes"]

_RESUME_LINE = re.compile(r"^[ \t]*%agent[ \t]+resume(?:[ \t]+(\S+))?[ \t]*$", re.MULTILINE)


def _request(shell: Any) -> dict[str, Any] | None:
    kernel: Any = getattr(shell, "kernel", None)
    try:
        content = kernel.get_parent()["content"]
    except (AttributeError, KeyError, TypeError):
        return None
    return content if isinstance(content, dict) else None


def cell_code(shell: Any) -> str | None:
    """The running cell's code (a notebook kernel knows it; a terminal does not)."""
    content = _request(shell)
    return None if content is None or "code" not in content else str(content["code"])


def headless(shell: Any) -> bool:
    """Whether the running cell was sent by a runner nobody watches: nbclient
    (``jupyter execute``), nbval and papermill send ``allow_stdin: false``; a notebook
    page, which can answer ``input()``, sends true."""
    content = _request(shell)
    return content is not None and content.get("allow_stdin") is False


def alone_in_cell(shell: Any) -> bool:
    """Whether the running cell holds nothing but one line command, so its run may
    replace the cell's output."""
    code = cell_code(shell) or ""
    lines = [ln for ln in code.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    return len(lines) == 1


def resumes(shell: Any, current_session_id: str | None) -> Callable[[str], bool]:
    """Whether the running cell goes on to ``%agent resume`` a session (as the page's
    Resume cell does), by its id, a start of it, or the latest session."""
    wanted = [m.group(1) for m in _RESUME_LINE.finditer(cell_code(shell) or "")]

    def resumed(session_id: str) -> bool:
        return any(session_id.startswith(w) if w else session_id == current_session_id for w in wanted)

    return resumed
