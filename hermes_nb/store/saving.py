"""Writing a whole session file: checked, merged with another writer, staged, published.

Safety rules kept here:

* every write is atomic (``fsio``), through a unique temp file, and the file is
  fsynced; a full save also fsyncs the folder, a checkpoint only if the store's
  ``checkpoint_fsync_dir`` (a crash then still finds this or the previous checkpoint);
* a write that shrinks the message list keeps the previous file as ``<id>.json.bak``;
* replacing a non-empty message list by an empty one while a run is pending is refused;
* a file that another kernel (or another copy) changed since this object last read or
  wrote it is merged, never overwritten (``merge``): every turn of every kernel stays;
* a copy that never read the file cannot write undone messages back: undo and retry
  bump ``history_rev`` and such a save with an older ``history_rev`` is refused;
* a file written by a newer schema is read-only here;
* text never makes a save fail (``fsio.json_bytes``), and a folder that cannot be
  written gives one line (``SessionWriteError``), not a traceback.

Saves of one session by several threads overlap: each stages its own temp file under
a short lock and renames it without the lock; ``publish`` keeps the newest on disk.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import secrets
import time
from pathlib import Path
from typing import Any

from hermes_nb.errors import (
    CorruptSessionError,
    ReadOnlySessionError,
    SessionWriteError,
    UnsafeSaveError,
)
from hermes_nb.safety import fsio
from hermes_nb.store import changes, diskstate, journal, publish
from hermes_nb.store import merge as _merge
from hermes_nb.store.folders import write_error
from hermes_nb.store.notices import notice
from hermes_nb.store.session import SCHEMA_VERSION, Session
from hermes_nb.store.versions import Base

__all__ = ["corrupt_moved", "save"]

log = logging.getLogger("hermes_nb.store")


def corrupt_moved(path: Path, moved: Path) -> None:
    notice(f"Session file {path} did not parse; it was moved to {moved.name}.")


def save(
    session: Session,
    channel: publish.Channel,
    skip_index: bool,
    touch_updated_at: bool,
    sync_dir: bool,
) -> None:
    """Write ``session`` atomically through ``channel`` (see ``Session.save``).

    Does not take the agent lock (callers hold it). Under the session's file lock
    (other kernels) it checks the file, merges what another writer saved since this
    object last saw it, and stages a temp file; the rename into place happens without
    the in-process lock, so concurrent saves never wait on each other's rename.
    ``sync_dir``: fsync the folder after the rename.
    """
    if session.read_only:
        raise ReadOnlySessionError(
            f"Session {session.session_id} was written by a newer hermes_nb "
            f"(schema {session.schema_version}); it is read-only here."
        )
    path = session.path
    try:
        with channel.shared.held():
            with channel.file.lock:
                staged, base = _stage(session, channel.file, path, touch_updated_at)
            try:
                on_disk = channel.file.publish(staged, sync_dir=sync_dir)
            except BaseException:
                if session._base is base:
                    session._base = None  # unknown now: the next save re-checks the file
                raise
            with channel.file.lock:
                seen = changes.settle(channel.file, path, on_disk)
            mine = session._base
            if mine is not None and mine.seq == on_disk.seq:
                # our newest version (perhaps rewritten after an older one landed over it)
                session._base = dataclasses.replace(mine, signature=on_disk.meta.signature, journal=seen)
    except (SessionWriteError, TimeoutError):
        raise
    except OSError as exc:
        raise write_error(path.parent, exc) from None


def _stage(
    session: Session, file: publish.OrderedFile, path: Path, touch_updated_at: bool
) -> tuple[publish.Staged, Base]:
    """Check and merge against the file, then write the temp file (``file.lock`` held)."""
    if file.busy:  # one of our own versions is on its way: it is the truth
        newest = file.newest
        assert newest is not None
        disk: diskstate.DiskState | None = newest.meta
        if disk is not None and session._base is not None and disk.signature != session._base.signature:
            _merge_with(session, json.loads(newest.payload), path, disk)
    else:
        disk = diskstate.current(path, corrupt_moved)
        if disk is not None and session._base is not None and not changes.same_version(disk, session._base):
            try:
                data, _, _ = diskstate.read_folded(path)
            except (FileNotFoundError, CorruptSessionError):
                data = None  # gone meanwhile: nothing to merge
            if data is not None:
                _merge_with(session, data, path, disk)
            disk = diskstate.known(path)
    _check_and_backup(session, path, disk)
    if touch_updated_at:
        session.updated_at = time.time()
    data = session.to_dict()
    data[journal.TOKEN_KEY] = token = secrets.token_hex(8)  # a journal must name this version
    staged = file.stage(fsio.json_bytes(data))
    state = diskstate.state_of(staged.stat, data)
    staged = file.set_meta(staged, state)
    base = _merge.snapshot(session, state.signature, staged.seq, token, journal.JournalInfo(clean=False))
    session._base = base
    return staged, base


def _merge_with(session: Session, data: dict[str, Any], path: Path, disk: diskstate.DiskState) -> None:
    """Merge what another writer saved (``data``) into ``session`` (see ``merge``)."""
    theirs = Session.from_dict(data)
    if theirs.session_id != session.session_id:
        return
    if theirs.schema_version > SCHEMA_VERSION:
        raise ReadOnlySessionError(
            f"Session {session.session_id} was saved by a newer hermes_nb in another kernel "
            f"(schema {theirs.schema_version}); it is read-only here."
        )
    assert session._base is not None
    if not _merge.mergeable(session, theirs, session._base):
        _check_and_backup(session, path, disk)  # the plainer refusals (a wipe) first
    _merge.merge(session, theirs, session._base)
    log.info("merged session %s with the version another writer saved", session.session_id)


def _check_and_backup(session: Session, path: Path, disk: diskstate.DiskState | None) -> None:
    if disk is None:
        return
    if disk.history_rev > session.history_rev:
        raise UnsafeSaveError(
            f"Session {session.session_id} was undone or retried after this copy was "
            "loaded; saving it would bring removed messages back. Reload it."
        )
    count = len(session.messages)
    if count == 0 and disk.message_count > 0 and (session.pending or disk.pending):
        raise UnsafeSaveError(
            f"Refusing to replace the {disk.message_count} messages of session "
            f"{session.session_id} with none while a run is pending."
        )
    if count < disk.message_count:
        diskstate.backup(path)
