"""What a session file on disk holds now, without re-reading it after our own writes.

``Session.save`` must know the message count, pending flag and ``history_rev`` of the
file it replaces (to keep a ``.bak``, refuse a wipe, refuse a stale copy). Reading
and parsing the file on every checkpoint would double its cost, so each write or read
in this process records those facts under the file's identity (inode, size, mtime).
Only a file someone else wrote since is read again.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hermes_nb.errors import CorruptSessionError
from hermes_nb.fsio import TEMP_PREFIX, TEMP_SUFFIX, atomic_write_bytes

__all__ = ["DiskState", "backup", "current", "move_aside", "parse_file", "remember"]


@dataclass(frozen=True)
class DiskState:
    """Facts about one version of a session file."""

    signature: tuple[int, int, int]
    message_count: int
    pending: bool
    history_rev: int


_STATES: dict[str, DiskState] = {}
_LOCK = threading.Lock()


def _signature(st: os.stat_result) -> tuple[int, int, int]:
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def remember(path: Path, st: os.stat_result, data: dict[str, Any]) -> DiskState:
    """Record what ``data`` (just written to or read from ``path``, stat ``st``) holds."""
    messages = data.get("messages")
    state = DiskState(
        _signature(st),
        len(messages) if isinstance(messages, list) else 0,
        bool(data.get("active_stream_id") or data.get("pending_user_message")),
        int(data.get("history_rev") or 0),
    )
    with _LOCK:
        if len(_STATES) > 4096:
            _STATES.clear()
        _STATES[str(path)] = state
    return state


def current(path: Path, on_corrupt: Callable[[Path, Path], None]) -> DiskState | None:
    """The state of the file now at ``path`` (``None`` if there is none).

    A file that does not parse is moved aside first and ``on_corrupt(path, moved_to)``
    is called, so the caller can tell the user.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    known = _STATES.get(str(path))
    if known is not None and known.signature == _signature(st):
        return known
    try:
        data = parse_file(path)
    except CorruptSessionError:
        on_corrupt(path, move_aside(path, "corrupt"))
        return None
    return remember(path, st, data)


def parse_file(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``; ``CorruptSessionError`` if it is not one."""
    try:
        data = json.loads(path.read_bytes())
    except (ValueError, UnicodeDecodeError) as exc:
        raise CorruptSessionError(f"Session file {path} is not valid JSON ({exc}).") from None
    if not isinstance(data, dict) or not isinstance(data.get("messages", []), list):
        raise CorruptSessionError(f"Session file {path} does not hold a session.")
    return data


def move_aside(path: Path, label: str) -> Path:
    """Rename ``path`` to ``<path>.<label>-<time>`` (never overwriting); returns the new path."""
    base = f"{path.name}.{label}-{time.strftime('%Y%m%d-%H%M%S')}"
    target = path.with_name(base)
    n = 1
    while target.exists():
        target = path.with_name(f"{base}-{n}")
        n += 1
    os.replace(path, target)
    return target


def backup(path: Path) -> None:
    """Keep the current file as ``<path>.bak``: a hard link (no copy), then an atomic rename."""
    bak = path.with_name(path.name + ".bak")
    tmp = path.with_name(f"{TEMP_PREFIX}{path.name}.bak.{secrets.token_hex(4)}{TEMP_SUFFIX}")
    try:
        os.link(path, tmp)
    except OSError:  # no hard links on this file system
        atomic_write_bytes(bak, path.read_bytes())
        return
    os.replace(tmp, bak)
