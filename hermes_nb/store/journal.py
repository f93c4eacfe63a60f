"""What changed since a session file was written, appended beside it.

A run must write what it changes, not the session: rewriting a 100,000-message
session file for the pending mark and again for the final save wrote ~66 MB per run.
So those writes, and the checkpoints between them, append one small record each to
``<id>.turn`` beside ``<id>.json``; the session file is rewritten only when the
journal has grown past a fraction of it (``Session.save_changes``' ``fold_at``) or
by an operation that rewrites the history anyway (undo, retry, compression, a merge).

The journal is JSON lines. The first line names the session file it extends,
``{"journal": 1, "base": TOKEN}``, where TOKEN is the ``journal_base`` key that
every full write of the session file draws anew. Each later line is one record:
``set`` (fields to replace), ``add`` (messages appended to the history),
``pending_add`` (messages appended to the turn in progress), ``partial_add`` (text
appended to the answer streaming in it). Every reader folds the
records, in order, into the file's JSON (``fold``).

Crash safety: a record is one ``write`` of a line ending in ``\\n`` on a file opened
for appending, then fsynced. A SIGKILL mid-write leaves a torn last line: it is
dropped, and so is anything after a line that does not parse; the settled lines
before it always count. A journal whose TOKEN is not the session file's is stale
(the file was rewritten and the journal folded into it, then the kernel died before
removing it) and is ignored, so a crash between the two steps loses and revives
nothing. A journal that is not clean is never appended to: the next save rewrites
the session file instead.

An older layout (one JSON object: one run's checkpoint, ``run_id`` /
``pending_messages`` / ``pending_partial_text``) is still read, for the run the
session file names, so a run left by a dead kernel of an older version is restored.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hermes_nb.safety.fsio import atomic_write_bytes, json_bytes

__all__ = [
    "FORMAT",
    "SUFFIX",
    "TOKEN_KEY",
    "JournalInfo",
    "Parsed",
    "append",
    "applies",
    "create",
    "drop_stale",
    "beside",
    "flush",
    "fold",
    "parse",
    "path_for",
    "header_token",
    "line",
    "of_stat",
    "signature",
]

log = logging.getLogger("hermes_nb.store.journal")

SUFFIX = ".turn"
FORMAT = 1
#: The session file's key naming the journal that may extend it.
TOKEN_KEY = "journal_base"
#: Fields a record may not set: they are the history's identity, kept by full writes.
_FIXED = frozenset({"session_id", "messages", "history_rev", "schema_version", TOKEN_KEY})

Signature = tuple[int, int, int]


def path_for(folder: Path, session_id: str) -> Path:
    return folder / f"{session_id}{SUFFIX}"


def beside(session_file: Path) -> Path:
    """The journal of the session file ``session_file`` (``<id>.json`` -> ``<id>.turn``)."""
    return session_file.with_name(session_file.stem + SUFFIX)


def of_stat(st: os.stat_result) -> Signature:
    """A file's (inode, size, mtime): what tells one version of it from another."""
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def signature(path: Path) -> Signature | None:
    """(inode, size, mtime) of the journal, or None when there is none."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return of_stat(st)


@dataclass(frozen=True)
class Parsed:
    """A journal as read: the session file it extends, its settled records, and
    whether every byte belongs to one (only then may it be appended to)."""

    token: str | None = None
    records: list[dict[str, Any]] = field(default_factory=list)
    clean: bool = False
    legacy: dict[str, Any] | None = None


@dataclass(frozen=True)
class JournalInfo:
    """What a reader or writer knows of the journal beside a session file it read or
    wrote: its signature (None: there was none), the token on its first line, and
    whether it may be appended to."""

    signature: Signature | None = None
    token: str | None = None
    clean: bool = True


def _usable_record(record: Any) -> bool:
    """Whether a parsed line has the shape ``changes.record_for`` gives a record."""
    if not isinstance(record, dict):
        return False
    sets = record.get("set", {})
    add = record.get("add", [])
    pending = record.get("pending_add", [])
    return (
        isinstance(record.get("partial_add", ""), str)
        and isinstance(sets, dict)
        and not (_FIXED & sets.keys())
        and isinstance(add, list)
        and all(isinstance(m, dict) for m in add)
        and isinstance(pending, list)
        and all(isinstance(m, dict) for m in pending)
    )


def _usable_legacy(data: Any) -> bool:
    return (
        isinstance(data, dict)
        and isinstance(data.get("run_id"), str)
        and isinstance(data.get("pending_messages"), list)
        and all(isinstance(m, dict) for m in data["pending_messages"])
        and isinstance(data.get("pending_partial_text"), str)
    )


def parse(raw: bytes) -> Parsed:
    """The settled part of a journal's bytes; never raises."""
    lines = raw.split(b"\n")
    tail = lines.pop()  # after the last newline: empty, or a torn record
    if not lines:
        try:
            legacy = json.loads(tail)
        except (ValueError, UnicodeDecodeError, RecursionError):
            return Parsed()
        return Parsed(legacy=legacy) if _usable_legacy(legacy) else Parsed()
    try:
        header = json.loads(lines[0])
    except (ValueError, UnicodeDecodeError, RecursionError):
        return Parsed()
    if not (isinstance(header, dict) and header.get("journal") == FORMAT and isinstance(header.get("base"), str)):
        return Parsed()
    records: list[dict[str, Any]] = []
    clean = not tail
    for line in lines[1:]:
        try:
            record = json.loads(line)
        except (ValueError, UnicodeDecodeError, RecursionError):
            record = None
        if not _usable_record(record):
            clean = False  # what follows depends on it: stop here
            break
        records.append(record)
    return Parsed(header["base"], records, clean)


def applies(parsed: Parsed, data: dict[str, Any]) -> bool:
    """Whether ``parsed`` extends the session file whose JSON is ``data``."""
    if parsed.legacy is not None:
        run_id = data.get("active_stream_id")
        return bool(run_id) and parsed.legacy["run_id"] == run_id and not data.get(TOKEN_KEY)
    return parsed.token is not None and parsed.token == data.get(TOKEN_KEY)


def fold(data: dict[str, Any], parsed: Parsed | None) -> bool:
    """Fold a journal into a session file's JSON in place; True if it applied."""
    if parsed is None or not applies(parsed, data):
        return False
    if parsed.legacy is not None:
        data["pending_messages"] = parsed.legacy["pending_messages"]
        data["pending_partial_text"] = parsed.legacy["pending_partial_text"]
        return True
    for record in parsed.records:
        data.update(record.get("set", {}))
        for key, name in (("add", "messages"), ("pending_add", "pending_messages")):
            if record.get(key):
                if not isinstance(data.get(name), list):
                    data[name] = []
                data[name].extend(record[key])  # our own freshly parsed lists: no copy
        if record.get("partial_add"):
            text = data.get("pending_partial_text")
            data["pending_partial_text"] = (text if isinstance(text, str) else "") + record["partial_add"]
    return True


def line(record: dict[str, Any]) -> bytes:
    """One record as a journal line (compact JSON never holds a raw newline)."""
    return json_bytes(record) + b"\n"


def create(path: Path, token: str, first: bytes, *, sync_dir: bool = True) -> Signature:
    """Start a journal extending the file whose token is ``token`` with the record
    line ``first``; atomically replaces a stale journal. Returns its signature."""
    header = json_bytes({"journal": FORMAT, "base": token}) + b"\n"
    st = atomic_write_bytes(path, header + first, sync_dir=sync_dir)
    return of_stat(st)


def append(path: Path, record_line: bytes, *, sync: bool = True) -> Signature:
    """Append one record line with a single write, then flush it to disk.

    ``sync=False`` leaves the flush to a later ``flush``: the line is in the OS's
    hands, which is all a kernel's death needs; only a power cut could lose it.
    """
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | getattr(os, "O_CLOEXEC", 0))
    try:
        view = memoryview(record_line)
        while view:
            view = view[os.write(fd, view) :]
        if sync:
            _datasync(fd)
        st = os.fstat(fd)
    finally:
        os.close(fd)
    return of_stat(st)


def flush(path: Path) -> None:
    """Flush to disk what was appended with ``sync=False`` (nothing when it is gone)."""
    try:
        fd = os.open(path, os.O_WRONLY | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return
    try:
        _datasync(fd)
    finally:
        os.close(fd)


def _datasync(fd: int) -> None:
    (getattr(os, "fdatasync", None) or os.fsync)(fd)


def header_token(path: Path) -> str | None:
    """The token on a journal's first line (None: no journal, or no usable header)."""
    try:
        with open(path, "rb") as fh:
            first = fh.readline(4096)
        header = json.loads(first)
    except (OSError, ValueError, UnicodeDecodeError, RecursionError):
        return None
    return header.get("base") if isinstance(header, dict) and isinstance(header.get("base"), str) else None


def drop_stale(path: Path, token: str) -> Signature | None:
    """Remove the journal unless it extends the file whose token is ``token`` (it was
    folded into it); returns the signature of a journal that stays."""
    if signature(path) is None:
        return None
    if header_token(path) != token:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError:
            log.debug("could not remove the stale journal %s", path, exc_info=True)
    return signature(path)
