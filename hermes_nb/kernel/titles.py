"""Session titles: a few words after the first exchange, never over the user's own.

The model is asked in the background so the cell is not kept waiting; the title is
written to the canonical cached session under its agent lock.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

from hermes_nb.store import locks, sessions

__all__ = ["DEFAULT_TITLE", "fallback_title", "run_name", "set_auto_title", "short_phrase", "start_title"]

log = logging.getLogger("hermes_nb.kernel.titles")

DEFAULT_TITLE = "New session"
_PROMPT = (
    "Write a title of at most six words for a conversation that starts with the "
    "request below. Answer with the title only, no quotes.\n\n"
)


# words a cut title should not end on: "What is the sum of the…" reads as broken
_DANGLING = frozenset(
    "a an and any as at but by for from in into is are it its my of on or our so than that "
    "the then this to was were with your".split()
)
_SENTENCE = re.compile(r"(.+?[.!?])(?:\s|$)")


def short_phrase(text: str, limit: int = 48) -> str:
    """A short whole phrase of ``text``: its first sentence when that fits, else a cut at
    a clause or word boundary marked with an ellipsis (never mid-word, never on "the")."""
    lines = [" ".join(line.split()) for line in text.splitlines()]
    first = next((line for line in lines if line), "")
    match = _SENTENCE.match(first)
    sentence = match.group(1) if match else first
    if len(sentence) <= limit:
        return sentence.rstrip(".") if not sentence.endswith("...") else sentence
    head = sentence[: limit - 1]
    clause = max(head.rfind(mark) for mark in (",", ";", ":", " - ", " – ", " — "))
    if clause >= limit // 2:
        return head[:clause].rstrip() + "…"
    words = head.split(" ")
    if len(words) > 1 and not sentence[limit - 1 : limit].isspace():
        words = words[:-1]  # the last word was cut
    while len(words) > 1 and words[-1].lower().strip(",;:") in _DANGLING:
        words.pop()
    return " ".join(words).rstrip(",;:") + "…"


def fallback_title(text: str, limit: int = 48) -> str:
    """A request's short whole phrase, on one line: a session's title before the model's."""
    return short_phrase(text, limit) or DEFAULT_TITLE


def run_name(title: str, request: str | None) -> str:
    """How a notice names a run: its session's title, or its request while the session
    has none (an interrupted first request leaves "New session")."""
    if title and title != DEFAULT_TITLE:
        return title
    return fallback_title(request) if isinstance(request, str) and request.strip() else title or DEFAULT_TITLE


def _clean(raw: str) -> str:
    line = raw.strip().splitlines()[0] if raw.strip() else ""
    return short_phrase(re.sub(r"^[\"'#*\s]+|[\"'*\s.]+$", "", line), 60)


def _untitled(session: sessions.Session, text: str) -> bool:
    """Whether an automatic title may name the session: the user has not, and its title
    is the default or the request's phrase given when the run started."""
    return not session.manual_title and session.title in ("", DEFAULT_TITLE, fallback_title(text))


def set_auto_title(session_id: str, title: str) -> bool:
    """Set a generated title unless the user named the session or it has one already."""
    with locks._get_session_agent_lock(session_id):
        session = sessions.get_session(session_id)
        if session.manual_title or session.title not in ("", DEFAULT_TITLE):
            return False
        session.title = title
        session.save(touch_updated_at=False)
        return True


def start_title(session_id: str, text: str, provider: Any) -> threading.Thread | None:
    """Name a new session: the first words now, the model's title when it answers."""
    session = sessions.get_session(session_id)
    if not _untitled(session, text):
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
            with locks._get_session_agent_lock(session_id):
                current = sessions.get_session(session_id)
                if current.manual_title:
                    return
                current.title = title
                current.save(touch_updated_at=False)

    thread = threading.Thread(target=ask, name=f"hermes_nb-title-{session_id}", daemon=True)
    thread.start()
    return thread
