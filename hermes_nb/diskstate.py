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
import stat as _stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from hermes_nb.errors import CorruptSessionError, UnreadableSessionError
from hermes_nb.fsio import TEMP_PREFIX, TEMP_SUFFIX, atomic_write_bytes

__all__ = [
    "MAX_FILE_BYTES",
    "DiskState",
    "backup",
    "current",
    "move_aside",
    "parse_file",
    "read_bounded",
    "read_json",
    "record",
    "remember",
    "state_of",
]

#: Largest session or index file read (bytes). A bigger file is reported, never read:
#: a symlink to ``/dev/zero`` or a runaway file must not exhaust the kernel's memory.
MAX_FILE_BYTES = 512 * 1024 * 1024


@dataclass(frozen=True)
class DiskState:
    """Facts about one version of a session file."""

    signature: tuple[int, int, int]
    message_count: int
    pending: bool
    history_rev: int

    def with_stat(self, st: os.stat_result) -> DiskState:
        """The same content in another file (a rewrite of the same bytes)."""
        return replace(self, signature=_signature(st))


_STATES: dict[str, DiskState] = {}
_LOCK = threading.Lock()


def _signature(st: os.stat_result) -> tuple[int, int, int]:
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def state_of(st: os.stat_result, data: dict[str, Any]) -> DiskState:
    """The facts of ``data``, stored in a file with stat ``st``."""
    messages = data.get("messages")
    try:
        rev = int(data.get("history_rev") or 0)
    except (TypeError, ValueError):
        rev = 0
    return DiskState(
        _signature(st),
        len(messages) if isinstance(messages, list) else 0,
        bool(data.get("active_stream_id") or data.get("pending_user_message")),
        rev,
    )


def record(path: Path, state: DiskState) -> DiskState:
    """Remember ``state`` as what ``path`` holds."""
    with _LOCK:
        if len(_STATES) > 4096:
            _STATES.clear()
        _STATES[str(path)] = state
    return state


def remember(path: Path, st: os.stat_result, data: dict[str, Any]) -> DiskState:
    """Record what ``data`` (just written to or read from ``path``, stat ``st``) holds."""
    return record(path, state_of(st, data))


def known(path: Path) -> DiskState | None:
    """What this process last wrote or read at ``path``."""
    return _STATES.get(str(path))


def current(path: Path, on_corrupt: Callable[[Path, Path], None]) -> DiskState | None:
    """The state of the file now at ``path`` (``None`` if there is none).

    A file that does not parse is moved aside first and ``on_corrupt(path, moved_to)``
    is called, so the caller can tell the user.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    known_state = _STATES.get(str(path))
    if known_state is not None and known_state.signature == _signature(st):
        return known_state
    try:
        data, st = read_json(path)
    except FileNotFoundError:
        return None
    except CorruptSessionError:
        on_corrupt(path, move_aside(path, "corrupt"))
        return None
    return remember(path, st, data)


def read_bounded(path: Path, limit: int | None = None) -> tuple[bytes, os.stat_result]:
    """The bytes of the regular file ``path`` and its stat, read from one descriptor.

    Never blocks or reads without end: a FIFO, a device (a symlink to ``/dev/zero``),
    a folder or a file over ``limit`` (default ``MAX_FILE_BYTES``) raise
    ``UnreadableSessionError``, as does a file we may not read.
    ``FileNotFoundError`` passes through.
    """
    limit = MAX_FILE_BYTES if limit is None else limit
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise UnreadableSessionError(f"Cannot read {path}: {exc.strerror or exc}.") from None
    try:
        st = os.fstat(fd)
        if not _stat.S_ISREG(st.st_mode):
            raise UnreadableSessionError(f"{path} is not a regular file; it is ignored.")
        if st.st_size > limit:
            raise UnreadableSessionError(
                f"{path} is {st.st_size // 2**20} MB, over the {limit // 2**20} MB limit "
                "(hermes_nb.diskstate.MAX_FILE_BYTES); it is ignored."
            )
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise UnreadableSessionError(f"{path} grew over the {limit // 2**20} MB limit while read.")
        return b"".join(chunks), st
    except OSError as exc:
        raise UnreadableSessionError(f"Cannot read {path}: {exc.strerror or exc}.") from None
    finally:
        os.close(fd)


def loads(raw: bytes, what: Path) -> Any:
    """``json.loads`` that turns every parse failure into ``CorruptSessionError``.

    Deeply nested input (``[[[[...``) makes the parser recurse past Python's limit:
    that is a corrupt file too, not a ``RecursionError`` for the caller.
    """
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        reason = "too deeply nested" if isinstance(exc, RecursionError) else str(exc)
        raise CorruptSessionError(f"Session file {what} is not valid JSON ({reason}).") from None


def read_json(path: Path) -> tuple[dict[str, Any], os.stat_result]:
    """The session object in ``path`` and the stat of what was read."""
    raw, st = read_bounded(path)
    data = loads(raw, path)
    if not isinstance(data, dict) or not isinstance(data.get("messages", []), list):
        raise CorruptSessionError(f"Session file {path} does not hold a session.")
    return data, st


def parse_file(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``; ``CorruptSessionError`` if it is not one."""
    return read_json(path)[0]


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
        atomic_write_bytes(bak, read_bounded(path)[0])
        return
    os.replace(tmp, bak)
