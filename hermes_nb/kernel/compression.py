"""Context compression: when a history nears the model's budget, older turns are
summarised by the model into a new session.

The old session's messages are never rewritten (its full history stays readable and
forkable); the new session records it as ``parent_session_id``. Both ids share one
agent lock and the cache is re-keyed, so code still holding the old id cannot
write the old object behind the new one's back.

Every summary request fits the model's window: the older turns are cut into pieces
of at most half the window, each piece is summarised on its own, and summaries that
together are still too long are summarised again. During a run the user's request
is already saved (pending) before anything here is tried; ``compress_for_run`` moves
that pending request into the new session with the history, and when summarising
fails it says so in one line and leaves the session as it was.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from hermes_nb.errors import HermesError, SessionError
from hermes_nb.store import locks, sessions

__all__ = [
    "Compression",
    "CompressionFailed",
    "compress_for_run",
    "compress_session",
    "estimate_tokens",
    "needs_compression",
    "summarise",
]

log = logging.getLogger("hermes_nb.kernel.compression")

#: share of the context window at which older turns are summarised
THRESHOLD = 0.75
#: most recent user turns kept word for word (fewer when they alone fill the window)
KEEP_TURNS = 2
#: share of the window one summary request may use (the rest is the reply's, and
#: slack for text that has fewer characters a token than the estimate assumes)
PIECE_SHARE = 0.5
#: share of the window the turns kept word for word may use
KEEP_SHARE = 0.4
CHARS_PER_TOKEN = 4
#: a window smaller than this is taken as this (a piece must hold the prompt)
MIN_WINDOW = 256

_PROMPT = (
    "Summarise the conversation below for your own later use: the user's goals, "
    "facts and numbers found, files and variables created, decisions made and what "
    "is still open. Be concise and concrete; use bullet points.\n\n"
)
_MERGE_PROMPT = (
    "Below are summaries of consecutive parts of one conversation, oldest first. "
    "Merge them into one concise summary with the same kind of content (goals, facts "
    "and numbers, files and variables, decisions, open points), as bullet points.\n\n"
)


class CompressionFailed(HermesError):
    """The older turns could not be summarised; the session was left as it was."""


class _Asks(Protocol):
    def complete(self, messages: list[dict[str, Any]], cancel: threading.Event | None = None) -> str: ...


def estimate_tokens(messages: list[dict[str, Any]]) -> int:
    """About four characters a token: close enough to decide when to compress."""
    return sum(len(json.dumps(m.get("content") or "")) + len(json.dumps(m.get("tool_calls") or "")) for m in messages) // CHARS_PER_TOKEN


def needs_compression(messages: list[dict[str, Any]], context_window: int, threshold: float = THRESHOLD) -> bool:
    return estimate_tokens(messages) > context_window * threshold


def _split_point(messages: list[dict[str, Any]], keep_turns: int, context_window: int | None = None) -> int:
    """Index of the user message that starts the turns kept word for word.

    The last ``keep_turns`` turns, or fewer while they alone would fill more than
    ``KEEP_SHARE`` of the window (the last turn is always kept).
    """
    users = [i for i, m in enumerate(messages) if m.get("role") == "user"]
    if not users:
        return 0
    keep = max(1, min(keep_turns, len(users)))
    if context_window is not None:
        while keep > 1 and estimate_tokens(messages[users[-keep]:]) > context_window * KEEP_SHARE:
            keep -= 1
    return users[-keep]


def _lines(messages: list[dict[str, Any]], cap: int) -> list[str]:
    """One line of text per message (tool calls included), each at most ``cap`` characters."""
    lines = []
    for m in messages:
        role = m.get("role")
        if role == "marker":
            continue
        if m.get("tool_calls"):
            calls = ", ".join(
                f"{(c.get('function') or {}).get('name', '?')}({str((c.get('function') or {}).get('arguments', ''))[:500]})"
                for c in m["tool_calls"]
                if isinstance(c, dict)
            )
            lines.append(_cut(f"assistant called: {calls}", cap))
        if m.get("content"):
            lines.append(_cut(f"{role}: {str(m['content'])[:4000]}", cap))
    return lines


def _cut(text: str, cap: int) -> str:
    if len(text) <= cap:
        return text
    note = f" [... {len(text) - cap} characters cut]"
    return text[: max(0, cap - len(note))] + note


def _pack(items: list[str], budget: int) -> list[str]:
    """Consecutive items joined into pieces of at most ``budget`` characters."""
    pieces: list[str] = []
    current: list[str] = []
    size = 0
    for item in items:
        if current and size + len(item) + 1 > budget:
            pieces.append("\n".join(current))
            current, size = [], 0
        current.append(item)
        size += len(item) + 1
    if current:
        pieces.append("\n".join(current))
    return pieces


def summarise(
    messages: list[dict[str, Any]],
    provider: _Asks,
    context_window: int,
    cancel: threading.Event | None = None,
) -> str:
    """A summary of ``messages``, asking the model only requests that fit its window.

    Raises CompressionFailed (with the model's reason) when a request fails or the
    model answers nothing.
    """
    cancel = cancel or threading.Event()
    budget = int(max(context_window, MIN_WINDOW) * PIECE_SHARE) * CHARS_PER_TOKEN
    room = budget - len(_MERGE_PROMPT)
    summaries = [_ask(provider, _PROMPT + piece, cancel) for piece in _pack(_lines(messages, room), room)]
    # each summary is kept short enough that several fit one merge request, so
    # every round at least halves their number
    cap = max(100, room // 4)
    summaries = [_cut(s, cap) for s in summaries]
    while len(summaries) > 1 and sum(len(s) + 2 for s in summaries) > room:
        pieces = _pack(summaries, room)
        summaries = [_cut(_ask(provider, _MERGE_PROMPT + piece, cancel), cap) for piece in pieces]
    return "\n\n".join(summaries)


def _ask(provider: _Asks, prompt: str, cancel: threading.Event) -> str:
    if cancel.is_set():
        raise CompressionFailed("cancelled")
    try:
        text = provider.complete([{"role": "user", "content": prompt}], cancel).strip()
    except HermesError as exc:
        raise CompressionFailed(str(exc)) from exc
    except Exception as exc:  # an SDK or provider bug: the run goes on without a summary
        log.debug("summary request failed", exc_info=True)
        raise CompressionFailed(f"{type(exc).__name__}: {exc}") from exc
    if cancel.is_set():
        raise CompressionFailed("cancelled")
    if not text:
        raise CompressionFailed("the model returned an empty summary")
    return text


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


def _head(summary: str, old_id: str) -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": f"Summary of our earlier conversation:\n\n{summary}", "summary": True},
        {"role": "assistant", "content": "Noted; I will continue from this summary.", "summary": True},
        {"role": "marker", "kind": "compressed", "content": f"Older turns summarised; full history in session {old_id}.", "at": None},
    ]


def _successor(old: sessions.Session, messages: list[dict[str, Any]], lock: Any) -> sessions.Session:
    """A new session holding ``messages``, sharing ``old``'s lock (lock held)."""
    new = sessions.new_session(title=old.title, notebook=old.notebook, model=old.model)
    new.parent_session_id = old.session_id
    new.manual_title = old.manual_title
    new.messages = messages
    with locks.SESSION_AGENT_LOCKS_LOCK:
        locks.SESSION_AGENT_LOCKS[new.session_id] = lock
    return new


def compress_session(
    session_id: str,
    provider: Any,
    keep_turns: int = KEEP_TURNS,
    *,
    context_window: int | None = None,
    cancel: threading.Event | None = None,
) -> Compression | None:
    """Summarise all but the last ``keep_turns`` turns into a new, current session.

    For a session without a pending run; None when there is nothing to summarise.
    Raises CompressionFailed when the model could not summarise.
    """
    window = context_window or int(getattr(provider, "context_window", 0) or 128_000)
    lock = locks._get_session_agent_lock(session_id)
    with lock:
        old = sessions.get_session(session_id)
        if old.active_stream_id:
            raise SessionError(f"Session {session_id} has a run pending; it cannot be compressed now.")
        messages = list(old.messages)
    split = _split_point(messages, keep_turns, window)
    if split == 0:
        return None
    # The model is asked outside the lock: it may take a while, and no run is active.
    summary = summarise(messages[:split], provider, window, cancel)
    with lock:
        old = sessions.get_session(session_id)
        new = _successor(old, _head(summary, session_id) + old.messages[split:], lock)
        new.save()
        sessions.store().sessions.pop(session_id, None)
    log.info("compressed %s into %s", session_id, new.session_id)
    return Compression(session_id, new.session_id, summarised=split, kept=len(messages) - split)


def compress_for_run(
    run: Any,
    provider: Any,
    context_window: int,
    keep_turns: int = KEEP_TURNS,
    notify: Callable[[str], None] | None = None,
) -> Compression | None:
    """Compress the session of a started run (its request already saved as pending).

    On success the history and the pending run move into a new session (saved
    before the old one lets go of the run, so a crash in between keeps the request
    in both) and ``run`` follows it. On failure ``notify`` gets one line and the
    session is left as it was: the run goes on with the whole conversation.
    """
    notify = notify or (lambda line: None)
    lock = run._lock
    with lock:
        messages = list(run.session.messages)
    pending = [{"role": "user", "content": run.user_message or ""}]
    if not needs_compression(messages + pending, context_window):
        return None
    split = _split_point(messages, keep_turns, context_window)
    if split == 0:
        return None
    try:
        summary = summarise(messages[:split], provider, context_window, run.cancel_event)
    except CompressionFailed as exc:
        if not run.cancel_event.is_set():
            notify(
                f"hermes_nb: could not summarise the older turns ({exc}); "
                "sending the whole conversation."
            )
        return None
    old_id = run.session_id
    with lock:
        old = run.session
        if old.active_stream_id != run.stream_id or len(old.messages) != len(messages):
            return None  # changed meanwhile (cancelled, or another kernel wrote): keep as is
        new = _successor(old, _head(summary, old_id) + old.messages[split:], lock)
        run.move_to(old, new)
        sessions.store().sessions.pop(old_id, None)
    log.info("compressed %s into %s during run %s", old_id, new.session_id, run.stream_id)
    done = Compression(old_id, new.session_id, summarised=split, kept=len(messages) - split)
    notify(done.notice())
    return done
