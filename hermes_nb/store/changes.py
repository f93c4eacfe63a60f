"""Saving a session by appending what changed to its journal (``journal.py``).

``Session.save_changes`` calls ``append`` under the session's file lock. A record
says what changed since the version this object last read or wrote (its ``Base``):
the messages appended to the history, the messages appended to the turn in progress,
and the fields that now hold other values. Whatever a record cannot say safely makes
``append`` return False, and the caller rewrites the session file instead: a history
rewritten (undo, retry, a merge), a file or journal that another writer changed
since, our own full write still on its way, a torn journal, an older file with no
``journal_base`` token, or a journal grown past ``fold_at`` times the file.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hermes_nb.errors import SessionWriteError
from hermes_nb.store import diskstate, journal, publish, versions
from hermes_nb.store import merge as _merge
from hermes_nb.store.folders import write_error
from hermes_nb.store.session import Session, StoreLike

__all__ = ["append", "record_for", "same_version", "save_changes", "settle", "start_journal"]


def save_changes(
    store: StoreLike,
    session: Session,
    skip_index: bool,
    touch_updated_at: bool,
    fold_at: float | None,
    sync: bool = True,
) -> None:
    """``Session.save_changes``: append, or rewrite the file when a record cannot do."""
    if session.read_only or session._base is None:
        session.save(skip_index, touch_updated_at)
        return
    path = session.path
    ch = store.channel(session.session_id)
    try:
        with ch.shared.held(), ch.file.lock:
            done = append(session, ch.file, path, fold_at, touch_updated_at, sync=sync)
    except (SessionWriteError, TimeoutError):
        raise
    except OSError as exc:
        raise write_error(path.parent, exc) from None
    if not done:
        session.save(skip_index, touch_updated_at)
        if fold_at is not None:  # the next run's pending mark then only appends
            with ch.shared.held(), ch.file.lock:
                start_journal(session, ch.file, path)
    elif not skip_index:
        session.save_index_row()


def settle(file: publish.OrderedFile, path: Path, on_disk: publish.Staged) -> journal.JournalInfo:
    """After a full write landed (``file.lock`` held): drop the journal it folded and
    record what is on disk; returns what is known of the journal now."""
    state: diskstate.DiskState = on_disk.meta
    jpath = journal.beside(path)
    if file.busy or state.token is None:  # another version is on its way: it settles
        sig = journal.signature(jpath)
    else:
        sig = journal.drop_stale(jpath, state.token)
    diskstate.record(path, dataclasses.replace(state, journal=sig))
    # A journal left is another writer's, on top of this version: never appended to
    # blind nor replaced; the next save that finds it rewrites the file.
    return journal.JournalInfo(sig, state.token, clean=sig is None)


def same_version(disk: diskstate.DiskState, base: versions.Base) -> bool:
    """Whether the file and journal on disk are the ones ``base`` last read or wrote."""
    return disk.signature == base.signature and disk.journal == base.journal.signature


def _appended_only(messages: list[Any], base: Sequence[Any]) -> bool:
    """Whether ``messages`` is ``base`` (the same objects) with messages appended.

    Checked at both ends and at the join, not element by element: stored messages
    are never changed in place (undo and retry replace the list, and bump
    ``history_rev``), so a run's save does not walk a 100,000-message history.
    """
    return versions.extends(messages, base)


def record_for(session: Session, base: versions.Base) -> dict[str, Any] | None:
    """The record that turns ``base`` into ``session`` ({} when nothing changed), or
    None when no record can say it."""
    if session.history_rev != base.history_rev or not _appended_only(session.messages, base.messages):
        return None
    record: dict[str, Any] = {}
    added = session.messages[len(base.messages) :]
    if added:
        record["add"] = added
    sets: dict[str, Any] = {}
    for name, before in base.fields.items():
        now = getattr(session, name)
        if name == "extra":
            if now != before:  # extra keys sit at the top level of the file
                return None
        elif name == "pending_partial_text" and isinstance(now, str) and isinstance(before, str):
            if before and now.startswith(before):  # text streamed since: only the new part
                if len(now) > len(before):
                    record["partial_add"] = now[len(before) :]
            elif now != before:
                sets[name] = now
        elif name == "pending_messages" and isinstance(now, list) and isinstance(before, list):
            n = len(before)
            if now[:n] == before:
                if len(now) > n:
                    record["pending_add"] = now[n:]
            else:
                sets[name] = now
        elif now != before or type(now) is not type(before):
            sets[name] = now
    if sets:
        record["set"] = sets
    return record


def append(
    session: Session,
    file: publish.OrderedFile,
    path: Path,
    fold_at: float | None,
    touch_updated_at: bool,
    *,
    sync_dir: bool = True,
    sync: bool = True,
) -> bool:
    """Append what changed to the journal (``file.lock`` and the cross-kernel lock
    held); False when the session file must be rewritten instead. ``sync=False``: an
    appended record is not flushed to disk yet (``journal.append``)."""
    base = session._base
    if base is None or base.token is None or file.busy:
        return False
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    jpath = journal.beside(path)
    jsig = journal.signature(jpath)
    if journal.of_stat(st) != base.signature or jsig != base.journal.signature:
        return False  # another writer: the full save merges
    extends = jsig is not None and base.journal.token == base.token
    if extends and not base.journal.clean:
        return False  # a torn or unknown journal: fold what we hold instead
    if fold_at is not None and jsig is not None and extends and jsig[1] > fold_at * st.st_size:
        return False
    before_updated = session.updated_at
    if touch_updated_at:
        session.updated_at = time.time()
    record = record_for(session, base)
    if record is None:
        session.updated_at = before_updated
        return False
    if not record:
        return True
    line = journal.line(record)
    if extends:
        new_sig = journal.append(jpath, line, sync=sync)
    else:  # none yet, or a stale one left by a crash: start one for this version
        new_sig = journal.create(jpath, base.token, line, sync_dir=sync_dir)
    info = journal.JournalInfo(new_sig, base.token, clean=True)
    session._base = _merge.snapshot(session, base.signature, base.seq, base.token, info)
    known = diskstate.known(path)
    if known is not None and known.signature == base.signature:
        diskstate.record(
            path,
            dataclasses.replace(
                known,
                message_count=len(session.messages),
                pending=session.pending,
                journal=new_sig,
            ),
        )
    return True


def start_journal(session: Session, file: publish.OrderedFile, path: Path) -> None:
    """Give the file version ``session`` just wrote an empty journal (locks held), so
    that the next run's pending mark is one append, not a file created and its folder
    flushed while the user waits."""
    base = session._base
    if base is None or base.token is None or file.busy or base.journal.signature is not None:
        return
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return
    if journal.of_stat(st) != base.signature:
        return
    sig = journal.create(journal.beside(path), base.token, b"")
    session._base = dataclasses.replace(base, journal=journal.JournalInfo(sig, base.token, clean=True))
    known = diskstate.known(path)
    if known is not None and known.signature == base.signature:
        diskstate.record(path, dataclasses.replace(known, journal=sig))
