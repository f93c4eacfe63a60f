"""Writing files so that a crash leaves either the old or the new content, never a mix.

Each write goes through its own temp file in the target's folder (``mkstemp`` opens it
with ``O_EXCL``): a shared temp name lets two writers corrupt each other. The temp
file is fsynced, renamed over the target with ``os.replace`` (looked up at call time),
and the folder is fsynced so the rename itself survives a power cut.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from pathlib import Path

__all__ = ["TEMP_PREFIX", "TEMP_SUFFIX", "atomic_write_bytes", "atomic_write_text", "fsync_dir",
           "sweep_temp_files"]

log = logging.getLogger("hermes_nb.fsio")

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
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    if sync_dir:
        fsync_dir(target.parent)
    return st


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
