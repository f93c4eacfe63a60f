"""What a session looks like on disk: its file, with the turn journal of a run in progress.

While a run is going, checkpoints go to ``<id>.turn`` beside ``<id>.json`` (see
hermes_nb/journal.py); the journal counts only for the run the session file names as
active. Tests read both the way a restore does, retrying until the session file did
not change while the journal was read, so the pair is one real moment.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def read_session(path: Path) -> dict[str, Any]:
    """The session file at ``path`` with its live journal folded in."""
    journal = path.with_suffix(".turn")
    while True:
        before = os.stat(path)
        data: dict[str, Any] = json.loads(path.read_bytes())
        try:
            turn = json.loads(journal.read_bytes())
        except (FileNotFoundError, ValueError):
            turn = None
        after = os.stat(path)
        if (before.st_ino, before.st_mtime_ns) == (after.st_ino, after.st_mtime_ns):
            break
    if turn and data.get("active_stream_id") and turn.get("run_id") == data["active_stream_id"]:
        data["pending_messages"] = turn["pending_messages"]
        data["pending_partial_text"] = turn["pending_partial_text"]
    return data


def sessions_in(folder: Path) -> list[dict[str, Any]]:
    """Every session in a sessions folder, as read by ``read_session``."""
    return [read_session(p) for p in sorted(folder.glob("*.json")) if p.name != "_index.json"]
