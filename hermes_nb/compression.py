"""Context compression: when a history nears the model's budget, older turns are
summarised by the model into a new session.

The old session file is never rewritten (its full history stays readable and
forkable); the new session records it as ``parent_session_id``. Both ids share one
agent lock and the cache is re-keyed, so code still holding the old id cannot
write the old object behind the new one's back.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from typing import Any

from hermes_nb import config, models
from hermes_nb.errors import SessionError

__all__ = ["Compression", "compress_session", "estimate_tokens", "needs_compression"]

log = logging.getLogger("hermes_nb.compression")

#: share of the context window at which older turns are summarised
THRESHOLD = 0.75
#: most recent user turns kept word for word
KEEP_TURNS = 2

_PROMPT = (
    "Summarise the conversation below for your own later use: the user's goals, "
    "facts and numbers found, files and variables created, decisions made and what "
    "is still open. Be concise and concrete; use bullet points.\n\n"
)


def estimate_tokens(messages: list[dict[str, Any]]) -> int:
    """About four characters a token: close enough to decide when to compress."""
    return sum(len(json.dumps(m.get("content") or "")) + len(json.dumps(m.get("tool_calls") or "")) for m in messages) // 4


def needs_compression(messages: list[dict[str, Any]], context_window: int, threshold: float = THRESHOLD) -> bool:
    return estimate_tokens(messages) > context_window * threshold


def _split_point(messages: list[dict[str, Any]], keep_turns: int) -> int:
    """Index of the user message that starts the last ``keep_turns`` turns."""
    users = [i for i, m in enumerate(messages) if m.get("role") == "user"]
    return users[-keep_turns] if len(users) >= keep_turns else 0


def _as_text(messages: list[dict[str, Any]]) -> str:
    lines = []
    for m in messages:
        role = m.get("role")
        if role == "marker":
            continue
        if m.get("tool_calls"):
            calls = ", ".join(f"{c['function']['name']}({c['function']['arguments'][:500]})" for c in m["tool_calls"])
            lines.append(f"assistant called: {calls}")
        if m.get("content"):
            lines.append(f"{role}: {str(m['content'])[:4000]}")
    return "\n".join(lines)


@dataclass(frozen=True)
class Compression:
    old_id: str
    new_id: str
    summarised: int
    kept: int

    def notice(self) -> str:
        return (
            f"hermes_nb: the conversation neared the model's context limit; {self.summarised} "
            f"older messages were summarised into session {self.new_id} (the full history "
            f"stays in {self.old_id})."
        )


def compress_session(session_id: str, provider: Any, keep_turns: int = KEEP_TURNS) -> Compression | None:
    """Summarise all but the last ``keep_turns`` turns into a new, current session."""
    lock = config._get_session_agent_lock(session_id)
    with lock:
        old = models.get_session(session_id)
        if old.active_stream_id:
            raise SessionError(f"Session {session_id} has a run pending; it cannot be compressed now.")
        messages = list(old.messages)
    split = _split_point(messages, keep_turns)
    if split == 0:
        return None
    # The model is asked outside the lock: it may take a while, and no run is active.
    summary = provider.complete(
        [{"role": "user", "content": _PROMPT + _as_text(messages[:split])}], threading.Event()
    ).strip()
    if not summary:
        return None
    head: list[dict[str, Any]] = [
        {"role": "user", "content": f"Summary of our earlier conversation:\n\n{summary}", "summary": True},
        {"role": "assistant", "content": "Noted; I will continue from this summary.", "summary": True},
        {"role": "marker", "kind": "compressed", "content": f"Older turns summarised; full history in session {session_id}.", "at": None},
    ]
    with lock:
        old = models.get_session(session_id)
        new = models.new_session(title=old.title, notebook=old.notebook, model=old.model)
        new.parent_session_id = session_id
        new.manual_title = old.manual_title
        new.messages = head + messages[split:]
        with config.SESSION_AGENT_LOCKS_LOCK:
            config.SESSION_AGENT_LOCKS[new.session_id] = lock
        new.save()
        models.SESSIONS.pop(session_id, None)
    log.info("compressed %s into %s", session_id, new.session_id)
    return Compression(session_id, new.session_id, summarised=split, kept=len(messages) - split)
