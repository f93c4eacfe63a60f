"""Finding a session from what a user types: a whole id, a unique prefix, or a title.

Ids are 24 characters (``20250101_120000_1a2b3c4d``); nobody types that. A prefix that
names one session, or a session's title, is enough; anything matching several is
refused with the candidates listed so the user can pick.
"""

from __future__ import annotations

import re

from hermes_nb.errors import SessionNotFoundError
from hermes_nb.store import sessions

__all__ = ["resolve_session_id"]

#: candidates named in an "ambiguous" message
_SHOWN = 5


def resolve_session_id(query: str, notebook: str | None = None) -> str:
    """The id of the one session ``query`` names.

    Tried in order: the exact id; a unique id prefix; an exact title (this
    notebook's sessions first, then every one in the folder). Raises
    SessionNotFoundError (a one-line message) when nothing or several match.
    """
    query = query.strip()
    if not query:
        raise SessionNotFoundError("Name a session: its id, the start of its id, or its title.")
    rows = sessions.list_sessions(include_all=True)
    if any(r.id == query for r in rows):
        return query
    by_prefix = [r for r in rows if r.id.startswith(query)]
    if len(by_prefix) == 1:
        return by_prefix[0].id
    if by_prefix:
        raise SessionNotFoundError(_ambiguous(query, [(r.id, r.title) for r in by_prefix]))
    folded = query.casefold()
    by_title = [r for r in rows if r.title.strip().casefold() == folded]
    mine = [r for r in by_title if notebook is not None and r.notebook == notebook]
    matches = mine or by_title
    if len(matches) == 1:
        return matches[0].id
    if matches:
        raise SessionNotFoundError(_ambiguous(query, [(r.id, r.title) for r in matches]))
    if re.fullmatch(r"[A-Za-z0-9_-]{1,64}", query) and (sessions.store().folder / f"{query}.json").exists():
        return query  # on disk but not (yet) in the index
    raise SessionNotFoundError(
        f"No session matches {query!r} (by id, id prefix or title); %agent sessions --all lists them."
    )


def _ambiguous(query: str, candidates: list[tuple[str, str]]) -> str:
    shown = ", ".join(f"{sid} ({title})" for sid, title in candidates[:_SHOWN])
    more = f" and {len(candidates) - _SHOWN} more" if len(candidates) > _SHOWN else ""
    return f"{query!r} matches {len(candidates)} sessions: {shown}{more}. Type more of the id."
