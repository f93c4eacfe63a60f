"""What a session looks like on disk: its file, with the journal beside it folded in.

Runs append what they change to ``<id>.turn`` beside ``<id>.json`` (see
hermes_nb/store/journal.py): JSON lines, a header naming the file version it extends
(``base`` = the file's ``journal_base``), then records that set fields and append
messages to the history or to the turn in progress, or text to its streamed answer.
A torn last line is ignored.
Tests read the pair the way a restore does, independently of the store's code,
retrying until the session file did not change while the journal was read, so the
pair is one real moment.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def _fold(data: dict[str, Any], raw: bytes) -> None:
    lines = raw.split(b"\n")[:-1]  # the part after the last newline is torn
    if not lines:
        return
    header = json.loads(lines[0])
    if header.get("base") != data.get("journal_base"):
        return  # stale: folded into the file already
    for line in lines[1:]:
        record = json.loads(line)
        data.update(record.get("set", {}))
        data["messages"] = data.get("messages", []) + record.get("add", [])
        data["pending_messages"] = data.get("pending_messages", []) + record.get("pending_add", [])
        data["pending_partial_text"] = data.get("pending_partial_text", "") + record.get("partial_add", "")


def read_session(path: Path) -> dict[str, Any]:
    """The session file at ``path`` with its journal folded in."""
    journal = path.with_suffix(".turn")
    while True:
        before = os.stat(path)
        data: dict[str, Any] = json.loads(path.read_bytes())
        try:
            raw: bytes | None = journal.read_bytes()
        except FileNotFoundError:
            raw = None
        after = os.stat(path)
        if (before.st_ino, before.st_mtime_ns) == (after.st_ino, after.st_mtime_ns):
            break
    if raw:
        _fold(data, raw)
    return data


def sessions_in(folder: Path) -> list[dict[str, Any]]:
    """Every session in a sessions folder, as read by ``read_session``."""
    return [read_session(p) for p in sorted(folder.glob("*.json")) if p.name != "_index.json"]
