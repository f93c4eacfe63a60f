"""Making and checking the sessions folder, with one line for the user when it fails."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from hermes_nb.errors import SessionWriteError

__all__ = ["check_dir", "make_dir", "write_error"]


def write_error(folder: Path, exc: OSError) -> SessionWriteError:
    """The one line for a folder we cannot write, saying what to do about it."""
    reason = exc.strerror or str(exc)
    return SessionWriteError(
        f"Cannot write sessions in {folder}: {reason}. Point "
        "%config AgentMagics.session_dir at a folder you can write (e.g. '~/hermes_sessions')."
    )


def make_dir(folder: Path) -> None:
    """Create ``folder`` (owner-only, like its ``.hermes_nb`` parent) or say why not."""
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except FileExistsError:  # a file (or a broken link) sits where the folder belongs
        raise write_error(folder, OSError(errno.ENOTDIR, "a file of that name is in the way")) from None
    except OSError as exc:
        raise write_error(folder, exc) from None
    for part in (folder, folder.parent):
        if part.name in ("sessions", ".hermes_nb"):
            try:
                os.chmod(part, 0o700)
            except OSError:
                pass


def check_dir(path: str | os.PathLike[str]) -> Path:
    """The absolute folder ``path`` after making sure sessions can be written there."""
    folder = Path(path).expanduser().absolute()
    if not folder.is_dir():
        make_dir(folder)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise write_error(folder, OSError(errno.EACCES, "permission denied"))
    return folder
