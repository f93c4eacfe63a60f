"""Reading a session file back: the file with its journal folded in, checked, and
recovered from its ``.bak`` when it does not parse."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from hermes_nb.errors import CorruptSessionError, UnreadableSessionError
from hermes_nb.safety.fsio import atomic_write_bytes
from hermes_nb.store import diskstate
from hermes_nb.store import index as _index
from hermes_nb.store import merge as _merge
from hermes_nb.store.notices import notice
from hermes_nb.store.session import SCHEMA_VERSION, Session

__all__ = ["drop_index_row", "load", "read_session"]

log = logging.getLogger("hermes_nb.store")


def load(
    path: Path,
    session_id: str,
    saving: Callable[[], AbstractContextManager[Any]],
    index_file: Path,
) -> Session | None:
    """The session in ``path``, or ``None`` when there is no file.

    What runs appended to the journal beside the file (``journal.py``: finished
    turns, the pending request, the checkpoints of a run in progress or left by a
    dead kernel) is folded in here.

    A file that does not parse is moved aside (under ``saving()``, the session's file
    locks) and the ``.bak`` is used when there is one (with a notice); with no backup,
    ``CorruptSessionError`` names the file (and its index row is dropped). Something
    that is not a readable regular file (a FIFO, a device, a folder, a file over the
    size limit) raises ``UnreadableSessionError`` and is left where it is.
    """
    try:
        return read_session(path, session_id)[0]
    except FileNotFoundError:
        return None
    except CorruptSessionError as exc:
        with saving():
            return _recover(path, session_id, str(exc), index_file)


def read_session(path: Path, session_id: str) -> tuple[Session, dict[str, Any], os.stat_result]:
    """The session in ``path`` (its journal folded in), with ``_base`` and the disk
    state recorded."""
    data, st, info = diskstate.read_folded(path)
    try:
        session = Session.from_dict(data)
    except (TypeError, ValueError) as exc:
        raise CorruptSessionError(f"Session file {path} has a wrong shape ({exc}).") from None
    if session.session_id != session_id:
        raise CorruptSessionError(f"Session file {path} holds session {session.session_id!r}.")
    if session.schema_version > SCHEMA_VERSION:
        session.read_only = True
        notice(
            f"Session {session_id} was written by a newer hermes_nb (schema "
            f"{session.schema_version}); it is shown read-only and will not be saved."
        )
    state = diskstate.remember(path, st, data, info.signature)
    session._base = _merge.snapshot(session, state.signature, 0, state.token, info)
    return session, data, st


def _recover(path: Path, session_id: str, reason: str, index_file: Path) -> Session | None:
    """Move a corrupt file aside and fall back to its ``.bak`` (file locks held)."""
    try:  # another kernel may have rewritten it meanwhile
        return read_session(path, session_id)[0]
    except FileNotFoundError:
        return None
    except CorruptSessionError:
        pass
    try:
        return _restore_backup(path, session_id, reason)
    except CorruptSessionError:
        drop_index_row(index_file, path.parent, session_id)
        raise


def drop_index_row(index_file: Path, folder: Path, session_id: str) -> None:
    try:
        _index.remove_row(index_file, folder, session_id)
    except OSError as exc:
        log.warning("could not drop the index row of %s: %s", session_id, exc)


def _restore_backup(path: Path, session_id: str, reason: str) -> Session:
    moved = diskstate.move_aside(path, "corrupt")
    bak = path.with_name(path.name + ".bak")
    try:
        read_session(bak, session_id)  # a whole session of this id, or no backup at all
        raw = diskstate.read_bounded(bak)[0]
    except (FileNotFoundError, CorruptSessionError, UnreadableSessionError):
        notice(f"{reason} It was moved to {moved.name}; no backup to restore.")
        raise CorruptSessionError(
            f"{reason} It was moved to {moved.name} and there is no usable backup."
        ) from None
    atomic_write_bytes(path, raw)
    session = read_session(path, session_id)[0]
    notice(f"{reason} It was moved to {moved.name}; restored the previous version from {bak.name}.")
    return session


