"""What a turn becomes in a session's history: the user's request, what the agent
completed, its partial answer, a result for every tool call left open, and markers
for the user's eyes only. Shared by a run's write-back and a restore after a crash.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from hermes_nb.store.index import open_turn_stop

if TYPE_CHECKING:
    from hermes_nb.store.sessions import Session

__all__ = [
    "CANCELLED_RESULT",
    "INTERRUPTED_RESULT",
    "close_open_calls",
    "is_resumable",
    "marker",
    "turn_messages",
]

CANCELLED_RESULT = "Cancelled by the user before this tool finished."
INTERRUPTED_RESULT = "Interrupted: the kernel stopped before this tool finished."


def marker(kind: str, text: str) -> dict[str, Any]:
    """A message for the user's eyes only; never sent to a model."""
    return {"role": "marker", "kind": kind, "content": text, "at": time.time()}


def close_open_calls(messages: list[dict[str, Any]], result_text: str) -> list[dict[str, Any]]:
    """Give every tool call without a result the result ``result_text``.

    A provider rejects a history with an unanswered tool call, so an interrupted
    turn is closed here before it becomes part of ``messages``.
    """
    answered = {m.get("tool_call_id") for m in messages if m.get("role") == "tool"}
    closed: list[dict[str, Any]] = []
    missing: list[str] = []

    def fill() -> None:
        closed.extend({"role": "tool", "tool_call_id": cid, "content": result_text} for cid in missing)
        missing.clear()

    for msg in messages:
        if msg.get("role") != "tool":
            fill()
        closed.append(msg)
        if msg.get("role") == "assistant":
            missing.extend(c.get("id") for c in msg.get("tool_calls") or () if c.get("id") not in answered)
    fill()
    return closed


def turn_messages(
    user_message: str | None,
    started_at: float | None,
    completed: Iterable[dict[str, Any]],
    partial_text: str,
    open_result: str,
    *,
    recovered: bool = False,
    context: list[Any] | None = None,
    run_id: str | None = None,
) -> list[dict[str, Any]]:
    """What an unfinished turn becomes in the history: the user's message (with the
    kernel context sent along with it), what the agent completed, its partial text,
    and a result for every open tool call.

    ``run_id`` (the stream id) is recorded on the user's message, so a frontend that
    showed the run can find its turn after the run ended; a run that continues an
    earlier request (``%agent resume``) has no message of its own and records it on
    its first message instead.
    """
    out: list[dict[str, Any]] = []
    if user_message is not None:
        user: dict[str, Any] = {"role": "user", "content": user_message, "at": started_at}
        if context:
            user["context"] = list(context)
        if recovered:
            user["recovered"] = True
        out.append(user)
    out.extend(close_open_calls(list(completed), open_result))
    if partial_text:
        out.append({"role": "assistant", "content": partial_text, "partial": True})
    if run_id is not None and out:
        out[0] = {**out[0], "run_id": run_id}
    return out


def is_resumable(session: Session) -> bool:
    """Whether the last turn ended before the model answered (interrupted,
    cancelled or failed), so ``%agent resume`` has something to continue."""
    return open_turn_stop(session.messages) is not None
