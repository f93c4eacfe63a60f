"""Writing files so that a crash leaves either the old or the new content, never a mix.

Each write goes through its own temp file in the target's folder (``mkstemp`` opens it
with ``O_EXCL``): a shared temp name lets two writers corrupt each other. The temp
file is fsynced, renamed over the target with ``os.replace`` (looked up at call time),
and the folder is fsynced so the rename itself survives a power cut.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hermes_nb.errors import UnreadableFileError

__all__ = ["TEMP_PREFIX", "TEMP_SUFFIX", "atomic_write_bytes", "atomic_write_text", "fsync_dir",
           "json_bytes", "json_text", "open_regular", "read_fd", "read_regular", "rename_over", "replace_temp", "sweep_temp_files",
           "write_temp"]

log = logging.getLogger("hermes_nb.safety.fsio")

#: Temp files are ``.hnb-<target name>.<random>.tmp``: hidden, and recognisable by the sweep.
TEMP_PREFIX = ".hnb-"
TEMP_SUFFIX = ".tmp"


def fsync_dir(folder: str | os.PathLike[str]) -> None:
    """Flush a folder's entries (renames, creations) to disk; a no-op where unsupported."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
    try:
        fd = os.open(folder, flags)
    except OSError:  # Windows cannot open folders
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_temp(
    path: str | os.PathLike[str], data: bytes, mode: int = 0o600, *, sync_file: bool = True
) -> tuple[str, os.stat_result]:
    """Write ``data`` to a new temp file beside ``path``; returns its name and stat.

    The stat is that of the final file once renamed (a rename keeps inode, size, mtime).
    """
    target = Path(path)
    fd, tmp = tempfile.mkstemp(
        prefix=f"{TEMP_PREFIX}{target.name}.", suffix=TEMP_SUFFIX, dir=target.parent
    )
    try:
        try:
            if mode != 0o600:
                os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            if sync_file:
                os.fsync(fd)
            st = os.fstat(fd)
        finally:
            os.close(fd)
    except BaseException:
        _unlink_quietly(tmp)
        raise
    return tmp, st


def replace_temp(tmp: str, path: str | os.PathLike[str]) -> None:
    """``os.replace`` a temp file from ``write_temp`` over ``path``; the temp file never outlives a failure."""
    try:
        os.replace(tmp, path)
    except BaseException:
        _unlink_quietly(tmp)
        raise


def rename_over(tmp: str, path: str | os.PathLike[str]) -> None:
    """Put a temp file in place again to repair an out-of-order rename (see ``publish``).

    ``rename(2)`` replaces the target atomically on POSIX, as ``os.replace`` does; only
    Windows needs ``os.replace`` for an existing target.
    """
    try:
        (os.replace if os.name == "nt" else os.rename)(tmp, path)
    except BaseException:
        _unlink_quietly(tmp)
        raise


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def atomic_write_bytes(
    path: str | os.PathLike[str],
    data: bytes,
    mode: int = 0o600,
    *,
    sync_file: bool = True,
    sync_dir: bool = True,
) -> os.stat_result:
    """Replace ``path`` with ``data`` atomically and durably; returns the new file's stat.

    ``sync_file=False`` only for derived data that is rebuilt when it does not parse.
    """
    tmp, st = write_temp(path, data, mode, sync_file=sync_file)
    replace_temp(tmp, path)
    if sync_dir:
        fsync_dir(Path(path).parent)
    return st


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _escape_surrogates(text: str) -> str:
    return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def json_text(data: Any) -> str:
    """Compact JSON text that can always be encoded as UTF-8 (see ``json_bytes``)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text if _LONE_SURROGATE.search(text) is None else _escape_surrogates(text)


def json_bytes(data: Any) -> bytes:
    """Compact UTF-8 JSON that never fails on text content.

    A lone surrogate (``'\\udcff'``: an undecodable byte of a file name, half of an
    emoji a provider split across two chunks) cannot be encoded as UTF-8. Such
    characters are written as JSON ``\\uXXXX`` escapes instead, which ``json.loads``
    reads back to the very same string (two halves of a pair come back as the one
    character they encode). Everything else stays plain UTF-8, so files stay small
    and readable; ``errors="replace"`` would have lost the character.
    """
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return _escape_surrogates(text).encode("utf-8")


def atomic_write_text(
    path: str | os.PathLike[str],
    text: str,
    mode: int = 0o600,
    *,
    sync_file: bool = True,
    sync_dir: bool = True,
) -> os.stat_result:
    """``atomic_write_bytes`` for UTF-8 text."""
    return atomic_write_bytes(
        path, text.encode("utf-8"), mode, sync_file=sync_file, sync_dir=sync_dir
    )


def sweep_temp_files(folder: str | os.PathLike[str], max_age: float = 300.0) -> list[Path]:
    """Remove temp files older than ``max_age`` seconds that a crashed writer left behind.

    Young ones are kept: they may belong to a write in progress in another kernel.
    """
    removed: list[Path] = []
    now = time.time()
    try:
        candidates = list(Path(folder).glob(f"{TEMP_PREFIX}*{TEMP_SUFFIX}"))
    except OSError:
        return removed
    for tmp in candidates:
        try:
            if now - tmp.stat().st_mtime >= max_age:
                tmp.unlink()
                removed.append(tmp)
        except OSError:
            continue
    if removed:
        log.info("removed %d temp file(s) left by an interrupted write in %s", len(removed), folder)
    return removed


@contextlib.contextmanager
def open_regular(
    path: str | os.PathLike[str], limit: int, *, follow_links: bool = True
) -> Iterator[tuple[int, os.stat_result]]:
    """A descriptor of the regular file ``path`` of at most ``limit`` bytes, and its stat.

    Never blocks and never reads without bound: the file is opened ``O_NONBLOCK`` (a
    FIFO does not wait for a writer) and checked on the open descriptor, so a FIFO, a
    device (a link to ``/dev/zero``), a folder or a file over ``limit`` raises
    ``UnreadableFileError`` with one line to show, as does a read in the block that
    fails or passes ``limit`` (``read_fd``'s ``OverflowError``). ``follow_links=False``
    refuses a symbolic link as the last part of the path (``O_NOFOLLOW``).
    ``FileNotFoundError`` passes through.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    if not follow_links:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    name = os.fspath(path)
    try:
        fd = os.open(name, flags)
    except FileNotFoundError:
        raise
    except OSError as exc:
        why = "a symbolic link" if not follow_links and os.path.islink(name) else (exc.strerror or str(exc))
        raise UnreadableFileError(f"cannot read {name}: {why}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnreadableFileError(f"{name} is not a regular file; not read")
        if st.st_size > limit:
            raise UnreadableFileError(
                f"{name} is {st.st_size:,} bytes, over the {limit:,}-byte limit; not read", too_large=True
            )
        yield fd, st
    except OverflowError:
        raise UnreadableFileError(f"{name} grew over the {limit:,}-byte limit while read; not read", too_large=True) from None
    except OSError as exc:
        raise UnreadableFileError(f"cannot read {name}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def read_regular(path: str | os.PathLike[str], limit: int, *, follow_links: bool = True) -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` of them (the refusals
    of ``open_regular``)."""
    with open_regular(path, limit, follow_links=follow_links) as (fd, st):
        return read_fd(fd, st, limit)


def read_fd(fd: int, st: os.stat_result, limit: int) -> bytes:
    """The rest of ``fd``, at most ``limit`` bytes (``OverflowError`` past it).

    One read of the known size (plus one byte, to see growth) fills one buffer;
    chunks joined would hold the file twice at the join.
    """
    raw = os.read(fd, min(st.st_size, limit) + 1)
    if len(raw) <= st.st_size:
        more = os.read(fd, 1)  # a short read (or a file that grew since the stat)
        if not more:
            return raw
        raw += more
    chunks = [raw]
    size = len(raw)
    while size <= limit:
        chunk = os.read(fd, min(1 << 20, limit + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > limit:
        raise OverflowError
    return b"".join(chunks)
