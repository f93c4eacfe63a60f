"""A mark beside a session while a run of it may be pending: ``<id>.running``.

A restore finds the runs a dead kernel left by the index rows that say pending. But
rewriting the index before every request costs ~0.8 ms (a rename over a file, which
ext4 flushes at once), a tenth of a later cell's time to its request. Creating an
empty file costs ~20 us. So a run puts its mark before its pending record reaches the
journal, the index row follows on the checkpoint thread once the request has left,
and the mark goes when the session file no longer says pending. A restore looks at
the rows and the marks; a mark over a settled file is only removed.
"""

from __future__ import annotations

import os
from pathlib import Path

from hermes_nb.errors import InvalidSessionIdError

__all__ = ["SUFFIX", "clear", "marked", "put"]

SUFFIX = ".running"


def put(folder: Path, session_id: str) -> None:
    """Mark ``session_id`` as possibly running (``OSError`` when the folder refuses)."""
    flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(folder / f"{session_id}{SUFFIX}", flags, 0o600)
    os.close(fd)


def clear(folder: Path, session_id: str) -> None:
    """Remove the mark (never raises: a mark left over costs a restore one look)."""
    try:
        os.unlink(folder / f"{session_id}{SUFFIX}")
    except OSError:
        pass


def marked(folder: Path) -> set[str]:
    """The ids marked in ``folder`` (empty when it cannot be listed)."""
    from hermes_nb.store.session import validate_session_id

    found: set[str] = set()
    try:
        names = os.listdir(folder)
    except OSError:
        return found
    for name in names:
        if name.endswith(SUFFIX):
            try:
                found.add(validate_session_id(name[: -len(SUFFIX)]))
            except InvalidSessionIdError:
                continue
    return found
