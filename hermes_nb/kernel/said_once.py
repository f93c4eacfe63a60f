"""Things said once per session, remembered in the session file.

A note such as "this model cannot call tools" helps the first time and is noise in
every later cell, also after a kernel restart: so what was said is saved with the
session (under ``said`` at the top level of its JSON; older versions keep unknown
keys as they are).
"""

from __future__ import annotations

from typing import Any

from hermes_nb.store import locks, sessions

__all__ = ["first_request", "no_tools_key", "remember", "was_said"]

_KEY = "said"


def no_tools_key(spec: str) -> str:
    return f"no_tools:{spec}"


def was_said(session_id: str, key: str) -> bool:
    said = sessions.get_session(session_id).extra.get(_KEY)
    return isinstance(said, list) and key in said


def remember(session_id: str, key: str) -> None:
    """Record that ``key`` was said in this session (saved at once, index untouched)."""
    with locks._get_session_agent_lock(session_id):
        session = sessions.get_session(session_id)
        said: Any = session.extra.get(_KEY)
        said = list(said) if isinstance(said, list) else []
        if key not in said:
            session.extra[_KEY] = [*said, key]
            session.save(skip_index=True, touch_updated_at=False)


def first_request(session_id: str) -> str | None:
    """The first thing the user asked in this session (what a title is made from)."""
    for message in sessions.get_session(session_id).messages:
        if message.get("role") == "user" and isinstance(message.get("content"), str):
            return str(message["content"])
    return None
