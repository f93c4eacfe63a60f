"""``GET hermes-nb/runs?notebook=PATH&request=TEXT``: the run of this notebook's
sessions that a request started, newest first.

A page closed during a run before the notebook was saved reopens to an ``%%agent``
cell with no output, although the session holds the whole run. The page asks here
with the cell's request and shows the run it is told of (``GET sessions/ID/runs/RUN``).
Read-only, like the rest of the API; served by ``handlers.FindRunHandler`` (a read of
``contents``, off the event loop).
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["MAX_REQUEST_CHARS", "find_run"]

#: a longer cell is not looked up (the request travels in the URL)
MAX_REQUEST_CHARS = 8000
#: how many of the notebook's newest sessions are read
MAX_SESSIONS = 50


def _candidates(data: dict[str, Any], request: str) -> list[tuple[float, str]]:
    """(start time, run id) of each run in one session that ``request`` started."""
    from hermes_nb.serverext.api import _messages

    found: list[tuple[float, str]] = []
    active = data.get("active_stream_id")
    pending = data.get("pending_user_message")
    if isinstance(active, str) and isinstance(pending, str) and pending.strip() == request:
        started = data.get("pending_started_at")
        found.append((float(started) if isinstance(started, int | float) else 0.0, active))
    for msg in _messages(data):
        content, run_id = msg.get("content"), msg.get("run_id")
        if msg.get("role") == "user" and isinstance(run_id, str) and isinstance(content, str):
            if content.strip() == request:
                at = msg.get("at")
                found.append((float(at) if isinstance(at, int | float) else 0.0, run_id))
    return found


def find_run(root: str | os.PathLike[str], notebook: Any, request: Any) -> dict[str, Any]:
    """The newest run of this notebook's sessions whose request is ``request`` (compared
    without the blank space around it), or ``{"run": None}``."""
    from hermes_nb.serverext.api import _read_rows, _read_session
    from hermes_nb.serverext.places import ApiError, locate

    place = locate(root, notebook)
    text = request.strip() if isinstance(request, str) else ""
    if not text or "\x00" in text:
        raise ApiError(400, "Give the cell's request: ?request=TEXT")
    if len(text) > MAX_REQUEST_CHARS:
        raise ApiError(400, f"The request is longer than {MAX_REQUEST_CHARS} characters.")
    best: tuple[float, str, dict[str, Any]] | None = None
    rows = [r for r in _read_rows(place) if r.notebook == place.name][:MAX_SESSIONS]
    for row in rows:
        data = _read_session(place, row.id)
        if data is None or data.get("session_id") != row.id:
            continue
        for started, run_id in _candidates(data, text):
            if best is None or started > best[0]:
                best = (started, run_id, data)
    if best is None:
        return {"run": None}
    started, run_id, data = best
    model = data.get("model")
    return {
        "run": {
            "version": 1,
            "session_id": data["session_id"],
            "run_id": run_id,
            "notebook": place.name,
            "session_dir": place.session_dir_rel,
            "model": model if isinstance(model, str) else "",
            "started_at": started,
        }
    }

