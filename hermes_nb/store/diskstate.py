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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from hermes_nb.errors import (
    CorruptSessionError,
    HermesError,
    UnreadableFileError,
    UnreadableSessionError,
    UnsafePathError,
)
from hermes_nb.safety.fsio import (
    TEMP_PREFIX,
    TEMP_SUFFIX,
    atomic_write_bytes,
    json_bytes,
    open_regular,
    read_fd,
)
from hermes_nb.store import journal, jsonstream

__all__ = [
    "MAX_FILE_BYTES",
    "Confinement",
    "DiskState",
    "backup",
    "current",
    "move_aside",
    "parse_file",
    "read_bounded",
    "read_folded",
    "read_json",
    "read_journal",
    "record",
    "remember",
    "state_of",
]

#: Largest session or index file read (bytes). A bigger file is reported, never read:
#: a symlink to ``/dev/zero`` or a runaway file must not exhaust the kernel's memory.
MAX_FILE_BYTES = 512 * 1024 * 1024
#: Session files larger than this are parsed a window at a time (``read_json``): the
#: peak is then about the objects (1.4x the file) instead of 2.3x, while one parse of
#: the whole text is faster for files of many small messages (100,000 in 33 MB:
#: ~330 ms whole, ~430 ms windowed).
STREAM_ABOVE = 48 * 1024 * 1024


@dataclass(frozen=True)
class DiskState:
    """Facts about one version of a session file."""

    signature: tuple[int, int, int]
    message_count: int
    pending: bool
    history_rev: int
    #: The ``journal_base`` token of the session file (its journal's link to it).
    token: str | None = None
    #: The journal beside the file as it was when these facts were taken (the counts
    #: above include what it added).
    journal: journal.Signature | None = None

    def with_stat(self, st: os.stat_result) -> DiskState:
        """The same content in another file (a rewrite of the same bytes)."""
        return replace(self, signature=_signature(st))


_STATES: dict[str, DiskState] = {}
_LOCK = threading.Lock()


_signature = journal.of_stat


def state_of(
    st: os.stat_result, data: dict[str, Any], journal_sig: journal.Signature | None = None
) -> DiskState:
    """The facts of ``data`` (folded with the journal of signature ``journal_sig``),
    stored in a file with stat ``st``."""
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
        data.get(journal.TOKEN_KEY) if isinstance(data.get(journal.TOKEN_KEY), str) else None,
        journal_sig,
    )


def record(path: Path, state: DiskState) -> DiskState:
    """Remember ``state`` as what ``path`` holds."""
    with _LOCK:
        if len(_STATES) > 4096:
            _STATES.clear()
        _STATES[str(path)] = state
    return state


def remember(
    path: Path, st: os.stat_result, data: dict[str, Any], journal_sig: journal.Signature | None = None
) -> DiskState:
    """Record what ``data`` (just written to or read from ``path``, stat ``st``, folded
    with the journal of signature ``journal_sig``) holds."""
    return record(path, state_of(st, data, journal_sig))


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
    if (
        known_state is not None
        and known_state.signature == _signature(st)
        and known_state.journal == journal.signature(journal.beside(path))
    ):
        return known_state
    try:
        data, st, info = read_folded(path)
    except FileNotFoundError:
        return None
    except CorruptSessionError:
        on_corrupt(path, move_aside(path, "corrupt"))
        return None
    return remember(path, st, data, info.signature)


@dataclass(frozen=True)
class Confinement:
    """How a reader that may see only one folder tree (a server: its root) reads.

    Every path is resolved first and must stay inside ``root`` (``UnsafePathError``
    otherwise); the resolved path is opened without following a link (one swapped in
    after the check is refused), a file over ``max_bytes`` is refused, and a session
    file is always parsed a window at a time, so the thread reading a large one lets
    the server's event loop run between windows. The kernel reads unconfined.
    """

    root: Path
    max_bytes: int = 256 * 1024 * 1024

    def resolve(self, path: Path) -> Path:
        real = Path(path).resolve()
        if real != self.root and self.root not in real.parents:
            raise UnsafePathError(f"{Path(path).name} points outside {self.root}; not read.")
        return real


@contextmanager
def _open_regular(
    path: Path, limit: int, confine: Confinement | None = None
) -> Iterator[tuple[int, os.stat_result]]:
    """``fsio.open_regular`` for a session file: its refusals are
    ``UnreadableSessionError`` (the file is left alone); confined by ``confine``."""
    if confine is not None:
        path, limit = confine.resolve(path), min(limit, confine.max_bytes)
    try:
        with open_regular(path, limit, follow_links=confine is None) as opened:
            yield opened
    except UnreadableFileError as exc:
        hint = " (the limit is hermes_nb.store.diskstate.MAX_FILE_BYTES)" if exc.too_large else ""
        raise UnreadableSessionError(f"{exc}{hint}; it is ignored.") from None


def read_bounded(
    path: Path, limit: int | None = None, confine: Confinement | None = None
) -> tuple[bytes, os.stat_result]:
    """The bytes of the regular file ``path`` and its stat, read from one descriptor
    (the refusals of ``_open_regular``)."""
    limit = MAX_FILE_BYTES if limit is None else limit
    with _open_regular(path, limit, confine) as (fd, st):
        return read_fd(fd, st, limit), st


def loads(raw: bytes | str, what: Path) -> Any:
    """``json.loads`` that turns every parse failure into ``CorruptSessionError``.

    Deeply nested input (``[[[[...``) makes the parser recurse past Python's limit:
    that is a corrupt file too, not a ``RecursionError`` for the caller.
    """
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        reason = "too deeply nested" if isinstance(exc, RecursionError) else str(exc)
        raise CorruptSessionError(f"Session file {what} is not valid JSON ({reason}).") from None


def _text(raw: bytes) -> str:
    """A session file's text, decoded as ``json.loads`` decodes bytes (UTF-8, BOM allowed)."""
    return raw.decode("utf-8-sig" if raw[:3] == b"\xef\xbb\xbf" else "utf-8", "surrogatepass")


def read_json(path: Path, confine: Confinement | None = None) -> tuple[dict[str, Any], os.stat_result]:
    """The session object in ``path`` and the stat of what was read.

    A file over ``STREAM_ABOVE`` bytes (any file, when ``confine`` is given) is parsed
    a window at a time (``jsonstream``): its text is never held whole next to the
    objects built from it, so loading peaks near the objects' size. A smaller one is
    parsed whole, which is faster; its bytes are decoded once and dropped first
    (``json.loads`` of bytes keeps both).
    """
    limit = MAX_FILE_BYTES if confine is None else min(MAX_FILE_BYTES, confine.max_bytes)
    with _open_regular(path, limit, confine) as (fd, st):
        try:
            if confine is not None or st.st_size > STREAM_ABOVE:
                data = jsonstream.load_object(fd, limit)
            else:  # decoded once and the bytes dropped: never bytes, text and objects at once
                text = _text(read_fd(fd, st, limit))
                data = json.loads(text)
                del text
        except (ValueError, RecursionError) as exc:
            reason = "too deeply nested" if isinstance(exc, RecursionError) else str(exc)
            raise CorruptSessionError(f"Session file {path} is not valid JSON ({reason}).") from None
    if not isinstance(data, dict) or not isinstance(data.get("messages", []), list):
        raise CorruptSessionError(f"Session file {path} does not hold a session.")
    return data, st


def read_journal(
    path: Path, confine: Confinement | None = None
) -> tuple[journal.Parsed, journal.Signature] | None:
    """The journal at ``path`` and the signature of what was read; None without one.

    An unreadable one (not a regular file, over the size limit) counts as present
    and unusable: it is never appended to, and the next full save replaces it. One
    leading out of ``confine``'s root raises ``UnsafePathError``.
    """
    try:
        raw, st = read_bounded(path) if confine is None else read_bounded(path, confine=confine)
    except FileNotFoundError:
        return None
    except UnsafePathError:
        raise
    except (OSError, HermesError):
        return journal.Parsed(), (-1, -1, -1)
    return journal.parse(raw), _signature(st)


def read_folded(
    path: Path, confine: Confinement | None = None
) -> tuple[dict[str, Any], os.stat_result, journal.JournalInfo]:
    """The session in ``path`` with its journal folded in, the stat of the file read,
    and what was seen of the journal: the one reader of session files, for the
    kernel and (with ``confine``) for the server extension.

    The two files are read without a lock; a writer that rewrote the session file
    meanwhile (and removed or restarted the journal) makes it read both again, so
    the pair read belongs together.
    """
    jpath = journal.beside(path)
    for _ in range(3):
        data, st = read_json(path, confine)
        found = read_journal(jpath, confine)
        try:
            now = os.stat(path)
        except FileNotFoundError:
            now = None
        if now is not None and _signature(now) == _signature(st):
            break
    if found is None:
        return data, st, journal.JournalInfo()
    parsed, sig = found
    journal.fold(data, parsed)
    return data, st, journal.JournalInfo(sig, parsed.token, parsed.clean)


def folded_bytes(path: Path) -> bytes | None:
    """The session in ``path`` with its journal folded in, as file bytes; None when no
    journal applies (the file alone is the whole session)."""
    jpath = journal.beside(path)
    found = read_journal(jpath)
    if found is None:
        return None
    data, _ = read_json(path)
    if not journal.fold(data, found[0]):
        return None
    data.pop(journal.TOKEN_KEY, None)  # whole: no journal may extend it again
    return json_bytes(data)


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
    """Keep the current session as ``<path>.bak``: a hard link of the file (no copy),
    then an atomic rename; the file with its journal folded in when one applies."""
    bak = path.with_name(path.name + ".bak")
    whole = folded_bytes(path)
    if whole is not None:
        atomic_write_bytes(bak, whole)
        return
    tmp = path.with_name(f"{TEMP_PREFIX}{path.name}.bak.{secrets.token_hex(4)}{TEMP_SUFFIX}")
    try:
        os.link(path, tmp)
    except OSError:  # no hard links on this file system
        atomic_write_bytes(bak, read_bounded(path)[0])
        return
    os.replace(tmp, bak)
