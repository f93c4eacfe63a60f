"""``_index.json``: one compact row per session, newest first.

Listing sessions reads this one file instead of every session. A save upserts its
own row under a cross-process lock (read, replace one row, atomic write), so the
cost of a save does not grow with the number of sessions in the folder. The index is
derived data: when it is missing or does not parse it is rebuilt from the files.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from hermes_nb.fsio import atomic_write_text

__all__ = ["INDEX_VERSION", "IndexRow", "read_rows", "rebuild", "remove_row", "upsert_row"]

log = logging.getLogger("hermes_nb.index")

INDEX_VERSION = 1
INDEX_NAME = "_index.json"

#: In-process guard in front of the file lock: threads then wait on a real lock
#: instead of polling the file lock.
_THREAD_LOCK = threading.Lock()


@dataclass(frozen=True)
class IndexRow:
    """What ``%agent sessions`` needs to show one session."""

    id: str
    title: str
    notebook: str | None
    model: str | None
    created_at: float
    updated_at: float
    message_count: int
    pending: bool
    #: the marker kind ("interrupted", "cancelled", "error", ...) that closed the last
    #: turn when that turn can be resumed; None when it was answered (or in old indexes)
    stopped: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IndexRow:
        """Raises ``KeyError``/``TypeError``/``ValueError`` on a malformed row."""
        return cls(
            id=str(data["id"]),
            title=str(data.get("title") or ""),
            notebook=data.get("notebook"),
            model=data.get("model"),
            created_at=float(data.get("created_at") or 0.0),
            updated_at=float(data.get("updated_at") or 0.0),
            message_count=int(data.get("message_count") or 0),
            pending=bool(data.get("pending")),
            stopped=_str_or_none(data.get("stopped")),
        )

    @classmethod
    def from_session_dict(cls, data: dict[str, Any]) -> IndexRow:
        """A row from a session file's JSON (used when rebuilding)."""
        messages = data.get("messages")
        return cls(
            id=str(data["session_id"]),
            title=str(data.get("title") or ""),
            notebook=data.get("notebook"),
            model=data.get("model"),
            created_at=float(data.get("created_at") or 0.0),
            updated_at=float(data.get("updated_at") or 0.0),
            message_count=len(messages) if isinstance(messages, list) else 0,
            pending=bool(data.get("active_stream_id") or data.get("pending_user_message")),
            stopped=open_turn_stop(messages) if isinstance(messages, list) else None,
        )


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def open_turn_stop(messages: list[Any]) -> str | None:
    """Why the last turn ended before the model answered, or None when it was answered.

    The kind of the marker closing that turn ("interrupted", "cancelled", "error",
    ...), or "open" when it ends in a request or tool result without a marker. A turn
    is open when the last message that is not a marker is the user's request, a tool
    result, or an assistant message that is partial or asks for tools: then
    ``%agent resume`` has something to continue.
    """
    kind: str | None = None
    for msg in reversed(messages):
        if not isinstance(msg, dict):
            return None
        role = msg.get("role")
        if role == "marker":
            if kind is None:
                kind = str(msg.get("kind") or "note")
            continue
        is_open = role in ("user", "tool") or (
            role == "assistant" and bool(msg.get("partial") or msg.get("tool_calls"))
        )
        return (kind or "open") if is_open else None
    return None


def _sort(rows: list[IndexRow]) -> list[IndexRow]:
    return sorted(rows, key=lambda r: (r.updated_at, r.id), reverse=True)


# The file is JSON with one row per line, so an upsert can splice one line in without
# parsing (or re-serialising) the other rows; readers still just ``json.loads`` it.
_HEAD = '{"version":' + str(INDEX_VERSION) + ',"sessions":['
_FOOT = "]}"


def _row_line(row: IndexRow) -> str:
    return json.dumps(row.to_dict(), ensure_ascii=False, separators=(",", ":"))


def _format(lines: list[str]) -> str:
    return _HEAD + "\n" + ",\n".join(lines) + "\n" + _FOOT


def _row_from(data: Any) -> IndexRow:
    try:
        return IndexRow(**data)
    except TypeError:  # missing or unknown keys: coerce what is there
        if not isinstance(data, dict):
            raise
        return IndexRow.from_dict(data)


def _parse(index_file: Path) -> list[IndexRow] | None:
    """The rows, or ``None`` when the file is missing or malformed."""
    try:
        raw = index_file.read_bytes()
    except FileNotFoundError:
        return None
    try:
        data = json.loads(raw)
        rows = data["sessions"] if isinstance(data, dict) else None
        if not isinstance(rows, list):
            raise ValueError("no 'sessions' list")
        return [_row_from(r) for r in rows]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        log.warning("session index %s is unreadable (%s); rebuilding it", index_file, exc)
        return None


def _put(index_file: Path, text: str) -> None:
    """Atomic write; the index file itself is not fsynced.

    It is derived data: after a power cut it is either intact, stale by the last few
    saves, or unparsable and then rebuilt from the session files. The folder is
    fsynced, which also makes the session file renamed just before durable.
    """
    atomic_write_text(index_file, text, sync_file=False)


def _write(index_file: Path, rows: list[IndexRow]) -> None:
    _put(index_file, _format([_row_line(r) for r in _sort(rows)]))


def _splice(text: str, row: IndexRow) -> str | None:
    """Put ``row`` on top of the index text; ``None`` when that needs a full parse.

    Plain string operations: a serialised row never holds a raw newline, so
    ``\n{"id":"<sid>",`` finds its line. ``None`` when the text is not in our layout or
    the row is not the newest (a save that kept an old ``updated_at``).
    """
    head, foot = _HEAD + "\n", "\n" + _FOOT
    if not (text.startswith(head) and text.endswith(foot)):
        return None
    body = text[len(head) : len(text) - len(foot)]
    lines = "\n" + body + ",\n" if body else "\n"  # every row is "\n<row>,"
    start = lines.find('\n{"id":' + json.dumps(row.id) + ",")
    if start >= 0:
        lines = lines[:start] + lines[lines.find("\n", start + 1) :]
    rest = lines[1:-1]  # "<row>,\n<row>," or ""
    if rest:
        top = rest[: rest.find("\n")] if "\n" in rest else rest
        try:
            newest = _row_from(json.loads(top[:-1]))
        except (ValueError, TypeError, KeyError):
            return None
        if (row.updated_at, row.id) < (newest.updated_at, newest.id):
            return None
        return head + _row_line(row) + ",\n" + rest[:-1] + foot
    return head + _row_line(row) + foot


def _scan(folder: Path) -> list[IndexRow]:
    """Rows for every session file in ``folder`` (the slow path: reads them all)."""
    rows: list[IndexRow] = []
    for path in folder.glob("*.json"):
        if path.name == INDEX_NAME:
            continue
        try:
            data = json.loads(path.read_bytes())
            if isinstance(data, dict) and data.get("session_id") == path.stem:
                rows.append(IndexRow.from_session_dict(data))
        except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError):
            log.warning("skipping unreadable session file %s while rebuilding the index", path)
    return rows


@contextmanager
def _locked(index_file: Path) -> Iterator[None]:
    from hermes_nb.config import os_file_lock

    with _THREAD_LOCK, os_file_lock(index_file.with_name(index_file.name + ".lock")):
        yield


def rebuild(index_file: Path, folder: Path) -> list[IndexRow]:
    """Rebuild the index from the session files and write it."""
    with _locked(index_file):
        rows = _scan(folder)
        _write(index_file, rows)
    return _sort(rows)


def read_rows(index_file: Path, folder: Path) -> list[IndexRow]:
    """All rows, newest first; rebuilds a missing or corrupt index."""
    rows = _parse(index_file)
    if rows is not None:
        return _sort(rows)
    if not folder.is_dir():
        return []
    return rebuild(index_file, folder)


def upsert_row(index_file: Path, folder: Path, row: IndexRow) -> None:
    """Replace (or add) one row. Reads only the index, never the other sessions."""
    with _locked(index_file):
        try:
            text: str | None = index_file.read_text(encoding="utf-8")
        except (FileNotFoundError, UnicodeDecodeError):
            text = None
        spliced = _splice(text, row) if text is not None else None
        if spliced is not None:
            _put(index_file, spliced)
            return
        rows = _parse(index_file)
        if rows is None:
            rows = _scan(folder)
        rows = [r for r in rows if r.id != row.id]
        rows.append(row)
        _write(index_file, rows)


def remove_row(index_file: Path, folder: Path, session_id: str) -> None:
    """Drop a session's row (after its file was moved away)."""
    with _locked(index_file):
        rows = _parse(index_file)
        if rows is None:
            rows = _scan(folder)
        _write(index_file, [r for r in rows if r.id != session_id])
