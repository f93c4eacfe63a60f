"""Undo, retry, rename, delete and fork.

Each operation holds the session's agent lock for its whole read-modify-save and works
on the canonical cached object (``sessions.get_session``), never on a copy: a running
stream's checkpoints write that same object, so they cannot bring undone messages
back. A copy loaded before the change is refused at save time (``history_rev``).
"""

from __future__ import annotations

import copy
import os
import time
from pathlib import Path
from typing import Any

from hermes_nb.errors import (
    HermesError,
    NothingToUndoError,
    RunClaimedError,
    SessionNotFoundError,
    UnsafePathError,
)
from hermes_nb.safety import fsio
from hermes_nb.store import diskstate, journal, liveness, sessions
from hermes_nb.store import index as _index
from hermes_nb.store.locks import FILE_LOCK_POLL, _get_session_agent_lock

__all__ = [
    "delete_session",
    "discard_if_empty",
    "fork_session",
    "move_to_trash",
    "refuse_links",
    "rename_session",
    "retry_last",
    "running_elsewhere",
    "undo_last",
]

MAX_TITLE = 200


def _refuse_if_running(session: sessions.Session, action: str) -> None:
    """Refuse while another process runs this session: its copy would then be stale.

    A run of this process saves this same cached object under the same agent lock,
    so an operation here and its checkpoints serialise and nothing is lost.
    """
    owner = session.active_stream_owner or {}
    if session.active_stream_id and owner.get("pid") != os.getpid():
        raise RunClaimedError(
            f"Session {session.session_id} has a run in progress in another kernel; "
            f"stop it there before {action}."
        )


def _last_user_index(messages: list[dict[str, Any]]) -> int | None:
    for i in range(len(messages) - 1, -1, -1):
        if messages[i].get("role") == "user":
            return i
    return None


def _truncate_at_last_user(session_id: str, action: str) -> list[dict[str, Any]]:
    """Remove the last user message and everything after it; returns what was removed."""
    sessions.validate_session_id(session_id)
    with _get_session_agent_lock(session_id):
        session = sessions.get_session(session_id, refresh=True)  # another kernel may have moved on
        _refuse_if_running(session, action)
        cut = _last_user_index(session.messages)
        if cut is None:
            raise NothingToUndoError(
                f"Nothing to {action} in session {session_id}: it has no user message yet."
            )
        old_messages, old_rev = session.messages, session.history_rev
        session.messages = old_messages[:cut]
        session.history_rev += 1
        try:
            session.save()
        except BaseException:
            session.messages, session.history_rev = old_messages, old_rev
            raise
        return old_messages[cut:]


def undo_last(session_id: str) -> list[dict[str, Any]]:
    """Remove the last exchange (last user message onwards); returns the removed messages."""
    return _truncate_at_last_user(session_id, "undo")


def retry_last(session_id: str) -> str:
    """Like ``undo_last``, and return the removed user text so it can be sent again."""
    removed = _truncate_at_last_user(session_id, "retry")
    content = removed[0].get("content")
    if isinstance(content, list):  # multi-part content: keep the text parts
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content if isinstance(content, str) else ""


def rename_session(session_id: str, title: str) -> sessions.Session:
    """Set a title by hand; automatic titling then leaves it alone."""
    title = " ".join(str(title).split())[:MAX_TITLE]
    if not title:
        raise ValueError("A session title cannot be empty.")
    with _get_session_agent_lock(session_id):
        session = sessions.get_session(session_id)
        old = (session.title, session.manual_title)
        session.title, session.manual_title = title, True
        try:
            session.save()
        except BaseException:
            session.title, session.manual_title = old
            raise
        return session


def delete_session(session_id: str) -> Path:
    """Move the session file (and its backup) to ``SESSION_DIR/.trash``; returns the new path.

    Nothing is unlinked: the trash is the last copy, and the user may want it back.
    """
    sessions.validate_session_id(session_id)
    with _get_session_agent_lock(session_id), sessions.store().session_file_lock(session_id).acquire(
        poll_interval=FILE_LOCK_POLL
    ):
        cached = sessions.store().sessions.get(session_id)
        if cached is not None:
            _refuse_if_running(cached, "deleting it")
        folder = sessions.store().folder
        if running_elsewhere(folder, session_id):
            raise RunClaimedError(
                f"Session {session_id} is running in another kernel; stop it first."
            )
        target = move_to_trash(folder, session_id)
        with sessions.store().lock:
            sessions.store().sessions.pop(session_id, None)
        _index.remove_row(sessions.store().index_file, folder, session_id)
        return target


def running_elsewhere(folder: Path, session_id: str) -> bool:
    """Whether another process runs ``session_id`` now, asked of the disk, not of the
    cache: a copy cached before another kernel started a run does not know of it, and
    deleting then would let that run's next save bring the session back.

    The running kernel holds ``<id>.run.lock`` for the whole run (from before its
    request is written), and the OS drops it when the kernel dies; it is looked up in
    the table of held locks, never taken (taking it, even for a moment, could make a
    kernel starting a run at that instant believe the run is claimed elsewhere). The
    same question the server extension asks (``SessionStore.run_is_live``).
    """
    store = sessions.store() if sessions.store().folder == folder else sessions.SessionStore(folder)
    cached = store.sessions.get(session_id)
    if cached is not None and cached.active_stream_id:
        if (cached.active_stream_owner or {}).get("pid") == os.getpid():
            return False  # our own run (its checkpoints save this same object)
    locks = liveness.held_locks()
    owner = None
    if locks.held is None:  # no lock table here: the owner the file records
        owner = store.run_owner(session_id)
        if owner is None or owner.get("pid") == os.getpid():
            return False  # no run, or our own
    return store.run_is_live(session_id, owner, locks)


def discard_if_empty(session_id: str) -> bool:
    """Remove a session that never held anything: no message, no title, no run.

    ``%agent new`` saves a session at once (so its id can be used); one left
    without a request would only clutter the list. Nothing of value is lost, so it
    is removed, not moved to the trash.
    """
    with _get_session_agent_lock(session_id):
        try:
            cached = sessions.get_session(session_id)
            if cached.messages or cached.pending:
                return False
            with sessions.store().lock:  # read it again: another kernel may have used it since
                sessions.store().sessions.pop(session_id, None)
            session = sessions.get_session(session_id)
        except HermesError:
            return False
        if session.messages or session.pending or session.manual_title or session.title != "New session":
            return False
        for path in (
            session.path,
            session.path.with_name(session.path.name + ".bak"),
            journal.beside(session.path),
        ):
            path.unlink(missing_ok=True)
        with sessions.store().lock:
            sessions.store().sessions.pop(session_id, None)
        _index.remove_row(sessions.store().index_file, sessions.store().folder, session_id)
        return True
def refuse_links(folder: Path, *paths: Path) -> None:
    """``UnsafePathError`` when one of ``paths`` (beside the sessions) is a symbolic link.

    A folder someone else made (a clone, a shared drive) may hold ``.trash`` or a
    ``.bak`` that leads anywhere; moving a session through it would write outside the
    folder. Such a folder is left as it is and the user told which link to remove.
    """
    for path in paths:
        if path.is_symlink():
            try:
                shown = path.relative_to(folder.parent.parent)
            except ValueError:
                shown = path
            raise UnsafePathError(
                f"Refusing to write through the symbolic link {shown.as_posix()}; remove it first."
            )


def move_to_trash(folder: Path, session_id: str) -> Path:
    """Move ``<id>.json`` (and its ``.bak``) into ``folder/.trash``, never overwriting.

    What runs appended to the journal beside it (``journal.py``) goes into the trashed
    file, so it alone is the whole session; the journal is then removed. The caller
    holds the session's file lock. Shared by ``%agent delete`` and the server
    extension's delete.
    """
    path = folder / f"{session_id}.json"
    if not path.exists():
        raise SessionNotFoundError(f"No session {session_id!r} in {folder}.")
    trash = folder / ".trash"
    bak = path.with_name(path.name + ".bak")
    refuse_links(folder, path, bak, journal.beside(path), trash)
    trash.mkdir(mode=0o700, exist_ok=True)
    refuse_links(folder, trash)  # made by someone else between the look and the mkdir
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = trash / f"{session_id}-{stamp}.json"
    n = 1
    while target.exists():
        target = trash / f"{session_id}-{stamp}-{n}.json"
        n += 1
    whole = diskstate.folded_bytes(path)
    if whole is not None:
        fsio.atomic_write_bytes(target, whole)
        os.unlink(path)
    else:
        os.replace(path, target)
    journal.beside(path).unlink(missing_ok=True)
    if bak.exists():
        os.replace(bak, target.with_name(target.name + ".bak"))
    return target


def fork_session(session_id: str, n_messages: int | None = None) -> sessions.Session:
    """A new session with the first ``n_messages`` messages (all when ``None``)."""
    if n_messages is not None and n_messages < 0:
        raise ValueError("n_messages must be 0 or more.")
    with _get_session_agent_lock(session_id):
        source = sessions.get_session(session_id)
        messages = copy.deepcopy(source.messages[:n_messages])
        title, notebook, model = source.title, source.notebook, source.model
    child = sessions.Session(
        title=f"{title} (fork)"[:MAX_TITLE],
        notebook=notebook,
        model=model,
        messages=messages,
        parent_session_id=session_id,
    )
    child.save()
    with sessions.store().lock:
        sessions.store().sessions[child.session_id] = child
    return child
