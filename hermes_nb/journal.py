"""The turn in progress, checkpointed beside its session file instead of inside it.

A checkpoint must cost the change, not the session: rewriting a 10,000-message
session file after every tool call wrote ~90 MB per run. So while a run is going,
``Run.checkpoint`` writes only the turn (``<id>.turn``: the run id, the completed
messages of this turn and the partial text) and the session file keeps the state
written when the run started (the request, marked pending). The journal is folded
in by the run's final save, and by ``apply`` whenever a session is read (restore
after a crash, ``cancel_stream`` of a dead run, another kernel's view).

A journal only counts for the run it names: once the session file no longer shows
that run as active (it was folded, cancelled or replaced by another run), the
journal is stale and ignored, so a crash between the final save and the journal's
removal loses nothing and revives nothing. Writes are atomic like every session
write (``fsio``), so a crash leaves the previous or the new checkpoint.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from hermes_nb import diskstate
from hermes_nb.errors import HermesError
from hermes_nb.fsio import atomic_write_bytes, json_bytes

__all__ = ["SUFFIX", "apply", "fold", "path_for", "read", "remove", "usable", "write"]

log = logging.getLogger("hermes_nb.journal")

SUFFIX = ".turn"


def path_for(folder: Path, session_id: str) -> Path:
    return folder / f"{session_id}{SUFFIX}"


def write(
    folder: Path,
    session_id: str,
    run_id: str,
    messages: list[dict[str, Any]],
    partial_text: str,
    *,
    sync_dir: bool = True,
) -> int:
    """Replace the journal of ``session_id`` with this turn; returns the bytes written."""
    payload = json_bytes(
        {"run_id": run_id, "pending_messages": messages, "pending_partial_text": partial_text}
    )
    atomic_write_bytes(path_for(folder, session_id), payload, sync_dir=sync_dir)
    return len(payload)


def read(folder: Path, session_id: str) -> dict[str, Any] | None:
    """The journal's content, or ``None`` when there is none or it is not usable."""
    path = path_for(folder, session_id)
    try:
        raw, _ = diskstate.read_bounded(path)  # a regular file, within the size limit
        data = diskstate.loads(raw, path)
    except (OSError, HermesError):
        return None
    if not usable(data):
        log.warning("ignoring an unreadable turn journal %s", path)
        return None
    return dict(data)


def usable(data: Any) -> bool:
    """Whether ``data`` (a parsed journal) has the shape ``write`` gives it."""
    return (
        isinstance(data, dict)
        and isinstance(data.get("run_id"), str)
        and isinstance(data.get("pending_messages"), list)
        and all(isinstance(m, dict) for m in data["pending_messages"])
        and isinstance(data.get("pending_partial_text"), str)
    )


def fold(session_data: dict[str, Any], turn: Any) -> bool:
    """Fold a parsed journal into a session file's JSON (readers that do not load a
    ``models.Session``, such as the server extension); True if it applied."""
    run_id = session_data.get("active_stream_id")
    if not run_id or not usable(turn) or turn["run_id"] != run_id:
        return False
    session_data["pending_messages"] = turn["pending_messages"]
    session_data["pending_partial_text"] = turn["pending_partial_text"]
    return True


def apply(folder: Path, session: Any) -> bool:
    """Fold a live journal into ``session`` (a ``models.Session``); True if it applied."""
    run_id = getattr(session, "active_stream_id", None)
    if not run_id:
        return False
    data = read(folder, session.session_id)
    if data is None or data["run_id"] != run_id:
        return False
    session.pending_messages = data["pending_messages"]
    session.pending_partial_text = data["pending_partial_text"]
    return True


def remove(folder: Path, session_id: str) -> None:
    """Drop the journal once its turn is in the session file (a stale one is harmless)."""
    try:
        os.unlink(path_for(folder, session_id))
    except FileNotFoundError:
        pass
    except OSError:
        log.debug("could not remove the turn journal of %s", session_id, exc_info=True)
