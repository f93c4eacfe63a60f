"""Session titles: a few words after the first exchange, never over the user's own.

The model is asked in the background so the cell is not kept waiting; the title is
written to the canonical cached session under its agent lock.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

from hermes_nb import config, models

__all__ = ["DEFAULT_TITLE", "fallback_title", "set_auto_title", "start_title"]

log = logging.getLogger("hermes_nb.titles")

DEFAULT_TITLE = "New session"
_PROMPT = (
    "Write a title of at most six words for a conversation that starts with the "
    "request below. Answer with the title only, no quotes.\n\n"
)


def fallback_title(text: str, words: int = 6, limit: int = 60) -> str:
    """The first words of the request, on one line."""
    flat = " ".join(text.split())
    title = " ".join(flat.split(" ")[:words])
    return (title[: limit - 1] + "…") if len(title) > limit else title or DEFAULT_TITLE


def _clean(raw: str) -> str:
    line = raw.strip().splitlines()[0] if raw.strip() else ""
    return re.sub(r"^[\"'#*\s]+|[\"'*\s.]+$", "", line)[:60]


def set_auto_title(session_id: str, title: str) -> bool:
    """Set a generated title unless the user named the session or it has one already."""
    with config._get_session_agent_lock(session_id):
        session = models.get_session(session_id)
        if session.manual_title or session.title not in ("", DEFAULT_TITLE):
            return False
        session.title = title
        session.save(touch_updated_at=False)
        return True


def start_title(session_id: str, text: str, provider: Any) -> threading.Thread | None:
    """Name a new session: the first words now, the model's title when it answers."""
    session = models.get_session(session_id)
    if session.manual_title or session.title not in ("", DEFAULT_TITLE):
        return None
    set_auto_title(session_id, fallback_title(text))
    if not getattr(provider, "generates_titles", False):
        return None

    def ask() -> None:
        try:
            title = _clean(provider.complete([{"role": "user", "content": _PROMPT + text[:2000]}]))
        except Exception as err:  # a title is a nicety; the first words stay
            log.info("title generation failed: %s", err)
            return
        if title:
            with config._get_session_agent_lock(session_id):
                current = models.get_session(session_id)
                if current.manual_title:
                    return
                current.title = title
                current.save(touch_updated_at=False)

    thread = threading.Thread(target=ask, name=f"hermes_nb-title-{session_id}", daemon=True)
    thread.start()
    return thread
