"""The sessions API's answers, as plain functions of the server root and a request.

The tornado handlers only parse a request and call one of these, so everything here
is tested without a server. Reading goes through hermes_nb's store: a read-only
``SessionStore`` per sessions folder, confined to the server root (``places.store_of``),
reads the index rows and the session files as the kernel does and tells a live run
the same way; nothing here writes a session file or the index, and the only change it
makes is ``delete`` (a move to the trash, as ``%agent delete``).

Listing is served from ``_index.json``, parsed once per version of it by the store,
so a list costs a ``stat`` and a filter when nothing changed; only rows of pending
runs look further (whether their kernel is alive).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hermes_nb.errors import UnsafePathError
from hermes_nb.serverext.places import ApiError, NotebookPlace, locate, store_of
from hermes_nb.serverext.render import (
    MAX_PAGE,
    PAGE,
    json_chunks,
    markdown_chunks,
    page_of,
    rendered,
    well_formed,
)
from hermes_nb.store import index as _index
from hermes_nb.store import runmarks
from hermes_nb.store.index import IndexRow
from hermes_nb.store.liveness import LockTable, held_locks
from hermes_nb.store.locks import os_file_lock
from hermes_nb.store.session_store import Listing

__all__ = [
    "delete_session",
    "export_chunks",
    "export_session",
    "get_run",
    "get_session",
    "interrupted_runs",
    "list_sessions",
    "list_sessions_body",
]

log = logging.getLogger("hermes_nb.serverext")

REQUEST_PREVIEW = 200


def _listing_of(place: NotebookPlace) -> Listing:
    """The folder's index rows, parsed again only when the index (or, without one,
    the folder) changed; never rebuilds the index (``SessionStore.listing``)."""
    _refuse_index_links(place)
    return store_of(place).listing()


def _read_rows(place: NotebookPlace) -> list[IndexRow]:
    """Index rows, newest first."""
    return _listing_of(place).rows


def _refuse_index_links(place: NotebookPlace) -> None:
    """403 when the index or its lock is a symbolic link: reading the index (and
    rebuilding it when it is missing) must neither read nor write through one."""
    place.refuse_links(place.index_file, place.index_file.with_name(place.index_file.name + ".lock"))


# --------------------------------------------------------------------------- status


def _run_live(place: NotebookPlace, locks: LockTable, session_id: str, owner: Any) -> bool:
    return store_of(place).run_is_live(session_id, owner, locks)


def _row_status(place: NotebookPlace, locks: LockTable | None, row: IndexRow) -> str:
    if row.pending:
        assert locks is not None
        return "running" if _run_live(place, locks, row.id, None) else "interrupted"
    if row.stopped in ("interrupted", "cancelled"):
        return "interrupted"
    return "ok"


def _file_status(place: NotebookPlace, locks: LockTable, data: dict[str, Any]) -> str:
    if data.get("active_stream_id") or data.get("pending_user_message"):
        live = _run_live(place, locks, str(data.get("session_id")), data.get("active_stream_owner"))
        return "running" if live else "interrupted"
    stop = _index.open_turn_stop(_messages(data))
    return "interrupted" if stop in ("interrupted", "cancelled") else "ok"


def _row_json(row: IndexRow, status: str) -> dict[str, Any]:
    return {
        "session_id": row.id,
        "title": row.title,
        "notebook": row.notebook,
        "model": row.model,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "message_count": row.message_count,
        "status": status,
    }


# --------------------------------------------------------------------------- routes


def list_sessions(root: str | os.PathLike[str], notebook: Any, all_: bool = False) -> dict[str, Any]:
    """``GET sessions?notebook=PATH[&all=1]``: this notebook's sessions, newest first."""
    place = locate(root, notebook)
    return _listing(place, _filtered(place, _read_rows(place), all_))


def list_sessions_body(root: str | os.PathLike[str], notebook: Any, all_: bool = False) -> str:
    """``list_sessions`` as the JSON text of the answer.

    While no listed session has a pending run, the answer depends on the index file
    alone, so its text is kept with the parsed index and a repeated request costs a
    ``stat`` and a dictionary look-up. Rows of pending runs are looked at every time
    (their kernel may have died since).
    """
    place = locate(root, notebook)
    listing = _listing_of(place)
    key = f"body\x00{place.notebook}\x00{int(all_)}"
    body = listing.derived.get(key)
    if body is None:
        rows = _filtered(place, listing.rows, all_)
        body = json.dumps(_listing(place, rows))
        if not any(r.pending for r in rows):
            listing.keep(key, body)
    return body


def _filtered(place: NotebookPlace, rows: list[IndexRow], all_: bool) -> list[IndexRow]:
    hidden = _links_leading_out(place)
    return [r for r in rows if (all_ or r.notebook == place.name) and r.id not in hidden]


def _links_leading_out(place: NotebookPlace) -> set[str]:
    """Ids whose session file is a symbolic link leading out of the root: an index
    rebuilt by a kernel may hold their rows, which must not reach a listing."""
    out: set[str] = set()
    try:
        with os.scandir(place.session_dir) as entries:
            for entry in entries:
                if entry.name.endswith(".json") and entry.is_symlink():
                    real = Path(entry.path).resolve()
                    if real != place.root and place.root not in real.parents:
                        out.add(entry.name[: -len(".json")])
    except OSError:
        pass
    return out


def _listing(place: NotebookPlace, rows: list[IndexRow]) -> dict[str, Any]:
    locks = held_locks() if any(r.pending for r in rows) else None
    return {
        "notebook": place.notebook,
        "session_dir": place.session_dir_rel,
        "sessions": [_row_json(r, _row_status(place, locks, r)) for r in rows],
    }


def _read_session(place: NotebookPlace, session_id: str) -> dict[str, Any] | None:
    """A session file's JSON with what runs appended to the journal beside it: finished
    turns, a pending run and its checkpoints (``SessionStore.read_dict``); None when
    there is no readable session. 400 for a bad id, 403 for a file leading out of the
    root."""
    place.session_file(session_id)
    try:
        return store_of(place).read_dict(session_id)
    except UnsafePathError:
        raise ApiError(403, "That session file points outside the server root.") from None


def _load(place: NotebookPlace, session_id: str) -> dict[str, Any]:
    data = _read_session(place, session_id)
    if data is None or data.get("session_id") != session_id:
        raise ApiError(404, f"No session {session_id!r} beside {place.notebook}.")
    if not isinstance(data.get("messages"), list):
        data["messages"] = []
    return data


def _messages(data: dict[str, Any]) -> list[dict[str, Any]]:
    messages = data.get("messages")
    return [well_formed(m) for m in messages if isinstance(m, dict)] if isinstance(messages, list) else []


def _pending_turn(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The checkpointed turn of a pending run, as messages (open calls left open)."""
    out: list[dict[str, Any]] = []
    request = data.get("pending_user_message")
    if isinstance(request, str):
        out.append({"role": "user", "content": request, "at": data.get("pending_started_at")})
    pending = data.get("pending_messages")
    out.extend(well_formed(m) for m in (pending if isinstance(pending, list) else []) if isinstance(m, dict))
    partial = data.get("pending_partial_text")
    if isinstance(partial, str) and partial:
        out.append({"role": "assistant", "content": partial, "partial": True})
    return out


def get_session(
    root: str | os.PathLike[str],
    notebook: Any,
    session_id: str,
    offset: int | None = None,
    limit: int = PAGE,
) -> dict[str, Any]:
    """``GET sessions/ID[?offset=N&limit=M]``: the session's facts and a page of its
    transcript (the latest ``PAGE`` messages by default); ``page`` says which."""
    from hermes_nb.ui.markdown import escape
    from hermes_nb.ui.session_html import messages_html, session_html
    from hermes_nb.ui.transcript import render_history

    place = locate(root, notebook)
    data = _load(place, session_id)
    locks = held_locks()
    status = _file_status(place, locks, data)
    title = str(data.get("title") or "")
    page = page_of(_messages(data), offset, limit)
    del data["messages"]  # the rest of a large session is not needed any more
    if page.offset == 0:
        html = rendered(lambda ms: session_html(ms, title=title), page.messages)
    else:
        head = f'<div class="hermes-nb-title"><b>{escape(title)}</b></div>' if title else ""
        html = head + rendered(messages_html, page.messages)
    if not page.whole:
        note = (
            f"Messages {page.offset + 1}-{page.end} of {page.total}; "
            "export the session to read all of them."
        )
        html = f'<div class="hermes-nb-page-note"><i>{escape(note)}</i></div>' + html
    at_end = page.end == page.total
    pending = _pending_turn(data) if at_end and status != "ok" and data.get("active_stream_id") else []
    if pending:
        html += rendered(lambda ms: messages_html(ms, live=status == "running"), pending)
    return {
        "session": {
            "session_id": session_id,
            "title": title,
            "model": data.get("model"),
            "created_at": data.get("created_at"),
            "updated_at": data.get("updated_at"),
            "status": status,
        },
        "html": html,
        "markdown": rendered(lambda ms: render_history(ms, title=title), page.messages + pending),
        "page": page.as_json(),
    }


def _turn_bounds(messages: list[dict[str, Any]], run_id: str) -> tuple[int, int] | None:
    """The turn holding the message marked ``run_id``: from its user request up to
    the next request (a resumed run continues the same turn)."""
    at = next((i for i, m in enumerate(messages) if m.get("run_id") == run_id), None)
    if at is None:
        return None
    start = at
    while start > 0 and messages[start].get("role") != "user":
        start -= 1
    end = next((j for j in range(at + 1, len(messages)) if messages[j].get("role") == "user"), len(messages))
    return start, end


def get_run(
    root: str | os.PathLike[str], notebook: Any, session_id: str, run_id: str
) -> dict[str, Any]:
    """``GET sessions/ID/runs/RUN_ID``: what the session file holds of one run."""
    from hermes_nb.ui.restore_report import count_saved
    from hermes_nb.ui.session_html import marker_state, messages_html

    place = locate(root, notebook)
    path = place.session_file(session_id)
    data = _load(place, session_id)
    messages = _messages(data)
    active = data.get("active_stream_id")
    turn: list[dict[str, Any]] = []
    state = "unknown"
    if active and active == run_id:
        turn = _pending_turn(data)
        state = "pending"
    else:
        bounds = _turn_bounds(messages, run_id)
        if bounds is not None:
            turn = messages[bounds[0] : bounds[1]]
            state = marker_state(turn)
            resuming = active and data.get("pending_user_message") is None
            if resuming and bounds[1] == len(messages):  # a resume of this turn is running
                turn = turn + _pending_turn(data)
                state = "pending"
    if state == "pending":
        live = _run_live(place, held_locks(), session_id, data.get("active_stream_owner"))
        state = "live" if live else "pending"
    counts = count_saved([m for m in turn if m.get("role") != "user"])
    shown = turn if len(turn) <= MAX_PAGE else turn[:1] + turn[-(MAX_PAGE - 1) :]
    return {
        "state": state,
        "html": rendered(lambda ms: messages_html(ms, live=state == "live"), shown) if turn else "",
        "updated_at": os.stat(path).st_mtime,
        "summary": {"tool_calls": counts.tool_calls, "text_chars": counts.text_chars},
    }


def _interrupted_run(place: NotebookPlace, locks: LockTable, row: IndexRow) -> dict[str, Any] | None:
    from hermes_nb.ui.restore_report import count_saved

    data = _read_session(place, row.id)
    if data is None:
        return None
    if data.get("active_stream_id") or data.get("pending_user_message"):
        if _run_live(place, locks, row.id, data.get("active_stream_owner")):
            return None
        turn = _pending_turn(data)
        run_id, started = data.get("active_stream_id"), data.get("pending_started_at")
    else:
        messages = _messages(data)
        if _index.open_turn_stop(messages) != "interrupted":
            return None
        start = next((i for i in range(len(messages) - 1, -1, -1) if messages[i].get("role") == "user"), 0)
        turn = messages[start:]
        run_id = next((m.get("run_id") for m in turn if m.get("run_id")), None)
        started = turn[0].get("at") if turn else None
    request = next((m.get("content") for m in turn if m.get("role") == "user"), None)
    counts = count_saved([m for m in turn if m.get("role") != "user"])
    return {
        "session_id": row.id,
        "run_id": run_id,
        "title": row.title,
        "started_at": started,
        "request": request[:REQUEST_PREVIEW] if isinstance(request, str) else "",
        "tool_calls": counts.tool_calls,
        "text_chars": counts.text_chars,
    }


def interrupted_runs(root: str | os.PathLike[str], notebook: Any) -> dict[str, Any]:
    """``GET interrupted``: this notebook's runs left by a dead kernel, restored or not,
    and not resumed since."""
    place = locate(root, notebook)
    marked = runmarks.marked(place.session_dir)  # a run that died before its row said pending
    rows = [
        r
        for r in _filtered(place, _read_rows(place), False)
        if r.pending or r.stopped == "interrupted" or r.id in marked
    ]
    locks = held_locks()
    runs = [run for r in rows if (run := _interrupted_run(place, locks, r)) is not None]
    return {"runs": runs}


def export_chunks(
    root: str | os.PathLike[str], notebook: Any, session_id: str, fmt: str
) -> tuple[str, str, Iterator[bytes]]:
    """``GET sessions/ID/export``: (file name, content type, the body's chunks)."""
    if fmt not in ("md", "json"):
        raise ApiError(400, "format must be md or json")
    place = locate(root, notebook)
    data = _load(place, session_id)
    if fmt == "json":
        return f"{session_id}.json", "application/json; charset=utf-8", json_chunks(data)
    title = str(data.get("title") or "")
    return f"{session_id}.md", "text/markdown; charset=utf-8", markdown_chunks(_messages(data), title)


def export_session(
    root: str | os.PathLike[str], notebook: Any, session_id: str, fmt: str
) -> tuple[str, str, bytes]:
    """``export_chunks`` with the body whole."""
    name, content_type, chunks = export_chunks(root, notebook, session_id, fmt)
    return name, content_type, b"".join(chunks)


def delete_session(root: str | os.PathLike[str], notebook: Any, session_id: str) -> dict[str, Any]:
    """``DELETE sessions/ID``: move the file to ``.trash/`` beside it (409 while it runs)."""
    from hermes_nb.store.session_ops import move_to_trash

    place = locate(root, notebook)
    path = place.session_file(session_id)
    lock_file = place.session_dir / f"{session_id}.json.lock"
    index_lock = place.index_file.with_name(place.index_file.name + ".lock")
    place.refuse_links(path, lock_file, index_lock, place.index_file)
    import filelock

    data = _load(place, session_id)
    try:
        with os_file_lock(lock_file, timeout=5.0):
            data = _load(place, session_id)
            locks = held_locks()  # the run lock is held from before the file says pending
            if (locks.held is not None or data.get("active_stream_id")) and _run_live(
                place, locks, session_id, data.get("active_stream_owner")
            ):
                raise ApiError(409, f"Session {session_id} is running in another kernel; stop it first.")
            try:
                target = move_to_trash(place.session_dir, session_id)
            except UnsafePathError as exc:
                raise ApiError(403, str(exc)) from None
    except filelock.Timeout:
        raise ApiError(409, "That session is being saved; try again.") from None
    _index.remove_row(place.index_file, place.session_dir, session_id)
    return {"session_id": session_id, "trash": Path(target).relative_to(place.root).as_posix()}
