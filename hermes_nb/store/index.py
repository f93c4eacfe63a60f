"""``_index.json``: one compact row per session, newest first.

Listing sessions reads this one file instead of every session. A save upserts its
own row under a cross-process lock (read, replace one row, atomic write), so the
cost of a save does not grow with the number of sessions in the folder. The index is
derived data: when it is missing or does not parse it is rebuilt from the files.

The file is a JSON *list* of rows, each naming its session under ``session_id`` (the
layout other tools read). The layout's version is in each row (``index_version``).
An index in the older layout (``{"version": 1, "sessions": [{"id": ...}]}``) is read
and rewritten in this one by the next save. Fields of a wrong type are coerced; a row
without a valid session id makes the index be rebuilt from the files (reported once
through ``consume_problems``).

Writes are ordered like session saves (``publish``): a writer builds its version
under a short in-process lock, renames it into place without that lock, and the
newest version is what stays.
"""

from __future__ import annotations

import collections
import json
import logging
import re
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from hermes_nb.errors import CorruptSessionError, UnreadableSessionError, UnsafePathError
from hermes_nb.safety import fsio
from hermes_nb.store import diskstate, journal, publish

__all__ = [
    "INDEX_VERSION",
    "IndexRow",
    "consume_problems",
    "generation",
    "read_rows",
    "read_signed",
    "scan",
    "rebuild",
    "remove_row",
    "upsert_row",
]

log = logging.getLogger("hermes_nb.store.index")

INDEX_VERSION = 2
INDEX_NAME = "_index.json"
_ID_RE = re.compile(r"[A-Za-z0-9-][A-Za-z0-9_-]{0,63}")
_PROBLEMS: collections.deque[str] = collections.deque(maxlen=50)
#: index file -> how many times this process wrote it (``generation``)
_WRITES: dict[str, int] = {}
_WRITES_LOCK = threading.Lock()


def consume_problems() -> list[str]:
    """Problems found in the index since the last call (each returned once)."""
    out: list[str] = []
    while _PROBLEMS:
        out.append(_PROBLEMS.popleft())
    return out


def _problem(message: str) -> None:
    log.warning("%s", message)
    if message not in _PROBLEMS:
        _PROBLEMS.append(message)


def _text(value: Any, default: str | None) -> str | None:
    if value is None or isinstance(value, str):
        return value if value is not None else default
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return default


def _num(value: Any, kind: type) -> Any:
    if isinstance(value, bool):
        return kind(value)
    try:
        return kind(float(value)) if kind is int else kind(value)
    except (TypeError, ValueError, OverflowError):
        return kind(0)


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

    @property
    def session_id(self) -> str:
        return self.id

    def to_dict(self) -> dict[str, Any]:
        """The row as stored: ``session_id`` first (the splice relies on it)."""
        data = asdict(self)
        return {"session_id": data.pop("id"), **data, "index_version": INDEX_VERSION}

    @classmethod
    def from_dict(cls, data: Any) -> IndexRow:
        """A row from stored JSON, coercing fields of a wrong type.

        ``ValueError`` when there is no valid session id (the row is then dropped).
        """
        if not isinstance(data, dict):
            raise ValueError(f"a row is not an object: {data!r:.60}")
        sid = data.get("session_id", data.get("id"))
        if not isinstance(sid, str) or not _ID_RE.fullmatch(sid):
            raise ValueError(f"a row holds an invalid session id {sid!r:.60}")
        title, notebook, model = data.get("title"), data.get("notebook"), data.get("model")
        created, updated = data.get("created_at"), data.get("updated_at")
        count, pending = data.get("message_count"), data.get("pending")
        if (  # the rows we write: no coercion needed (listing 1,000 rows stays ~10 ms)
            type(title) is str and type(created) is float and type(updated) is float
            and type(count) is int and type(pending) is bool
            and (notebook is None or type(notebook) is str) and (model is None or type(model) is str)
        ):  # fmt: skip
            return cls(sid, title, notebook, model, created, updated, count, pending,
                       _str_or_none(data.get("stopped")))
        return cls(
            id=sid,
            title=_text(data.get("title"), "") or "",
            notebook=_text(data.get("notebook"), None),
            model=_text(data.get("model"), None),
            created_at=_num(data.get("created_at") or 0.0, float),
            updated_at=_num(data.get("updated_at") or 0.0, float),
            message_count=_num(data.get("message_count") or 0, int),
            pending=bool(data.get("pending")),
            stopped=_str_or_none(data.get("stopped")),
        )

    @classmethod
    def from_session_dict(cls, data: dict[str, Any]) -> IndexRow:
        """A row from a session file's JSON (used when rebuilding)."""
        messages = data.get("messages")
        return cls.from_dict(
            {
                **data,
                "message_count": len(messages) if isinstance(messages, list) else 0,
                "pending": bool(data.get("active_stream_id") or data.get("pending_user_message")),
                "stopped": open_turn_stop(messages) if isinstance(messages, list) else None,
            }
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


# One row per line, so an upsert can splice one line in without parsing (or
# re-serialising) the other rows; readers still just ``json.loads`` it.
_HEAD = "["
_FOOT = "]"


def _row_line(row: IndexRow) -> str:
    return fsio.json_text(row.to_dict())


def _format(lines: list[str]) -> str:
    if not lines:
        return _HEAD + _FOOT
    return _HEAD + "\n" + ",\n".join(lines) + "\n" + _FOOT


def _rows_of(data: Any, where: Path) -> list[IndexRow] | None:
    """Rows from parsed index JSON (either layout); ``ValueError`` if neither.

    ``None`` when a row had to be dropped (not an object, or no valid session id):
    the caller then rebuilds the index from the session files, which are the truth.
    """
    if isinstance(data, dict) and isinstance(data.get("sessions"), list):
        items = data["sessions"]  # the older layout
    elif isinstance(data, list):
        items = data
    else:
        raise ValueError("not a list of rows")
    rows: list[IndexRow] = []
    for item in items:
        try:
            rows.append(IndexRow.from_dict(item))
        except ValueError as exc:
            _problem(f"Session index {where}: {exc}; the index is rebuilt from the session files.")
            return None
    return rows


def _parse_text(text: str | None, where: Path) -> list[IndexRow] | None:
    if text is None:
        return None
    try:
        return _rows_of(diskstate.loads(text.encode("utf-8", "surrogatepass"), where), where)
    except (ValueError, CorruptSessionError) as exc:
        log.warning("session index %s is unreadable (%s); rebuilding it", where, exc)
        return None


def _read_text(index_file: Path) -> str | None:
    return _read_signed_text(index_file)[0]


def _read_signed_text(
    index_file: Path, confine: diskstate.Confinement | None = None
) -> tuple[str | None, journal.Signature | None]:
    """The index's text (None when missing or unreadable) and the signature of the
    file read (None when there was none to read)."""
    try:
        if confine is None:
            raw, st = diskstate.read_bounded(index_file)
        else:
            raw, st = diskstate.read_bounded(index_file, confine=confine)
    except FileNotFoundError:
        return None, None
    except UnreadableSessionError as exc:
        _problem(f"{exc} The session list is rebuilt from the session files.")
        return None, None
    try:
        return raw.decode("utf-8"), journal.of_stat(st)
    except UnicodeDecodeError:
        return None, journal.of_stat(st)


def read_signed(
    index_file: Path, confine: diskstate.Confinement | None = None
) -> tuple[list[IndexRow] | None, journal.Signature | None]:
    """The rows, newest first (None when the file is missing or malformed), and the
    signature of the file they were read from (taken from the descriptor read, so a
    cache keyed by it never pairs one version's rows with another's signature).
    Never writes: a malformed index is left for a writer to rebuild."""
    text, sig = _read_signed_text(index_file, confine)
    rows = _parse_text(text, index_file)
    return (_sort(rows) if rows is not None else None), sig


def generation(index_file: Path) -> int:
    """How many times this process wrote ``index_file``: part of a cache's key, so a
    write of ours is seen even when the file's signature could repeat."""
    return _WRITES.get(str(index_file), 0)


def _parse(index_file: Path) -> list[IndexRow] | None:
    """The rows, or ``None`` when the file is missing or malformed."""
    return _parse_text(_read_text(index_file), index_file)


def _splice(text: str, row: IndexRow) -> str | None:
    """Put ``row`` on top of the index text; ``None`` when that needs a full parse.

    Plain string operations: a serialised row never holds a raw newline, so
    ``\\n{"session_id":"<sid>",`` finds its line. ``None`` when the text is not in our
    layout or the row is not the newest (a save that kept an old ``updated_at``).
    """
    if text == _HEAD + _FOOT:
        return _format([_row_line(row)])
    head, foot = _HEAD + "\n", "\n" + _FOOT
    if not (text.startswith(head) and text.endswith(foot)):
        return None
    body = text[len(head) : len(text) - len(foot)]
    if not body.startswith('{"session_id":'):
        return None
    lines = "\n" + body + ",\n"  # every row is "\n<row>,"
    start = lines.find('\n{"session_id":' + json.dumps(row.id) + ",")
    if start >= 0:
        lines = lines[:start] + lines[lines.find("\n", start + 1) :]
    rest = lines[1:-1]  # "<row>,\n<row>," or ""
    if rest:
        top = rest[: rest.find("\n")] if "\n" in rest else rest
        try:
            newest = IndexRow.from_dict(json.loads(top[:-1]))
        except (ValueError, RecursionError):
            return None
        if (row.updated_at, row.id) < (newest.updated_at, newest.id):
            return None
        return head + _row_line(row) + ",\n" + rest[:-1] + foot
    return head + _row_line(row) + foot


def _scan(folder: Path, confine: diskstate.Confinement | None = None) -> list[IndexRow]:
    """Rows for every session file in ``folder`` (the slow path: reads them all).

    With ``confine``, a file leading out of its root is skipped (never read)."""
    rows: list[IndexRow] = []
    try:
        paths = list(folder.glob("*.json"))
    except OSError:
        return rows
    for path in paths:
        if path.name.startswith("_"):
            continue
        try:
            data, _, _ = diskstate.read_folded(path, confine)  # with the turns its journal added
            if data.get("session_id") == path.stem:
                rows.append(IndexRow.from_session_dict(data))
        except UnsafePathError:
            continue
        except (OSError, ValueError, CorruptSessionError, UnreadableSessionError):
            log.warning("skipping unreadable session file %s while rebuilding the index", path)
    return rows


def scan(folder: Path, confine: diskstate.Confinement | None = None) -> list[IndexRow]:
    """Rows read from the session files themselves, newest first; writes nothing
    (what a reader that may not write the index lists without one)."""
    return _sort(_scan(folder, confine))


def _channel(index_file: Path) -> publish.Channel:
    return publish.channel(index_file, index_file.with_name(index_file.name + ".lock"))


def _current_text(ch: publish.Channel, index_file: Path) -> str | None:
    """The newest index text: our version on its way, else the file (``lock`` held)."""
    if ch.file.busy and ch.file.newest is not None:
        return ch.file.newest.payload.decode("utf-8")
    return _read_text(index_file)


def _update(index_file: Path, change: Any, *, sync_dir: bool = True) -> None:
    """Apply ``change(text, rows_loader) -> new text`` as one ordered index write.

    The index file itself is not fsynced: it is derived data. After a power cut it is
    either intact, stale by the last few saves, or unparsable and then rebuilt from the
    session files. The folder is fsynced, which also makes the session file renamed
    just before durable.
    """
    ch = _channel(index_file)
    try:
        with ch.shared.held():
            with ch.file.lock:
                text = _current_text(ch, index_file)
                new_text = change(text)
                staged = ch.file.stage(new_text.encode("utf-8"), sync_file=False)
            ch.file.publish(staged, sync_dir=sync_dir)
    finally:
        with _WRITES_LOCK:
            _WRITES[str(index_file)] = _WRITES.get(str(index_file), 0) + 1


def _rows_for_change(text: str | None, index_file: Path, folder: Path) -> list[IndexRow]:
    rows = _parse_text(text, index_file)
    return rows if rows is not None else _scan(folder)


def rebuild(index_file: Path, folder: Path) -> list[IndexRow]:
    """Rebuild the index from the session files and write it."""
    found: list[IndexRow] = []

    def change(text: str | None) -> str:
        found[:] = _scan(folder)
        return _format([_row_line(r) for r in _sort(found)])

    _update(index_file, change)
    return _sort(found)


def read_rows(index_file: Path, folder: Path) -> list[IndexRow]:
    """All rows, newest first; rebuilds a missing or corrupt index."""
    rows = _parse(index_file)
    if rows is not None:
        return _sort(rows)
    if not folder.is_dir():
        return []
    try:
        return rebuild(index_file, folder)
    except OSError as exc:  # a folder we cannot write: list what is there anyway
        log.warning("could not rewrite the session index in %s: %s", folder, exc)
        return _sort(_scan(folder))


def upsert_row(index_file: Path, folder: Path, row: IndexRow, *, sync_dir: bool = True) -> None:
    """Replace (or add) one row. Reads only the index, never the other sessions.

    ``sync_dir=False`` skips the folder's fsync (a run's pending mark: a crash of the
    kernel keeps the row either way; only a power cut may lose it, and then the
    session's own journal still names the run)."""

    def change(text: str | None) -> str:
        spliced = _splice(text, row) if text is not None else None
        if spliced is not None:
            return spliced
        rows = [r for r in _rows_for_change(text, index_file, folder) if r.id != row.id]
        rows.append(row)
        return _format([_row_line(r) for r in _sort(rows)])

    _update(index_file, change, sync_dir=sync_dir)


def remove_row(index_file: Path, folder: Path, session_id: str) -> None:
    """Drop a session's row (after its file was moved away)."""

    def change(text: str | None) -> str:
        rows = _rows_for_change(text, index_file, folder)
        return _format([_row_line(r) for r in _sort(rows) if r.id != session_id])

    if index_file.parent.is_dir():
        _update(index_file, change)

