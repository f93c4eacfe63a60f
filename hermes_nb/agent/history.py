"""Turn stored session messages into what a chat API accepts.

Sessions keep hermes_nb's own keys and user-only markers, and a crash or a cancel
can leave a tool call without its result; every provider rejects such a history.
This is the one place that cleans it, so every request is valid whatever happened
before.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any

__all__ = ["MISSING_RESULT", "drop_failed_requests", "to_provider_messages"]

log = logging.getLogger("hermes_nb.agent.history")

MISSING_RESULT = "Cancelled: this tool call was stopped before it finished."
"""The result given to a tool call that has none in the history."""

_KEYS: dict[str, tuple[str, ...]] = {
    "system": ("role", "content", "name"),
    "user": ("role", "content", "name"),
    "assistant": ("role", "content", "name", "tool_calls"),
    "tool": ("role", "tool_call_id", "content"),
}


def to_provider_messages(
    messages: Iterable[dict[str, Any]], system_prompt: str | None = None
) -> list[dict[str, Any]]:
    """Clean copies of ``messages`` for a provider, with ``system_prompt`` first.

    Markers and unknown roles are dropped, keys other than the OpenAI ones are
    removed, and every assistant tool call gets exactly one result right after its
    message: a missing one gets MISSING_RESULT, a duplicate or orphan result is
    dropped. Nothing else is merged or reordered. The input is not modified.
    """
    out: list[dict[str, Any]] = []
    if system_prompt:
        out.append({"role": "system", "content": system_prompt})
    expected: list[str] = []  # call ids of the last assistant message still unanswered
    for message in messages:
        role = message.get("role")
        if role == "tool":
            call_id = message.get("tool_call_id")
            if call_id in expected:
                expected.remove(call_id)
                out.append(_clean(message))
            else:
                log.debug("dropping tool result without a matching call: %r", call_id)
            continue
        if role not in _KEYS:
            continue  # markers are for the user only; unknown roles no API accepts
        _answer_missing(out, expected)
        cleaned = _clean(message)
        if role == "assistant":
            expected = [c["id"] for c in cleaned.get("tool_calls", [])]
        out.append(cleaned)
    _answer_missing(out, expected)
    return out


def _answer_missing(out: list[dict[str, Any]], expected: list[str]) -> None:
    for call_id in expected:
        out.append({"role": "tool", "tool_call_id": call_id, "content": MISSING_RESULT})
    expected.clear()


def _clean(message: dict[str, Any]) -> dict[str, Any]:
    role = message["role"]
    cleaned = {k: message[k] for k in _KEYS[role] if k in message}
    if role == "assistant":
        unique: dict[str, dict[str, Any]] = {}
        for raw in message.get("tool_calls") or []:
            call = _clean_call(raw)
            if call is not None and call["id"] not in unique:
                unique[call["id"]] = call
        if unique:
            cleaned["tool_calls"] = list(unique.values())
        else:
            cleaned.pop("tool_calls", None)
            if cleaned.get("content") is None:
                cleaned["content"] = ""
    elif role == "tool":
        cleaned["content"] = _text(cleaned.get("content"))
    elif "content" not in cleaned or cleaned["content"] is None:
        cleaned["content"] = ""
    return cleaned


def _clean_call(call: Any) -> dict[str, Any] | None:
    """A tool call in the exact OpenAI shape (arguments as a JSON string)."""
    if not isinstance(call, dict) or not call.get("id"):
        return None
    function = call.get("function") or {}
    arguments = function.get("arguments", "{}")
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments, ensure_ascii=False)
    return {
        "id": str(call["id"]),
        "type": "function",
        "function": {"name": str(function.get("name", "")), "arguments": arguments or "{}"},
    }


def _text(content: Any) -> Any:
    """Tool results are text (or OpenAI content parts); anything else is serialised."""
    if content is None:
        return ""
    if isinstance(content, (str, list)):
        return content
    return json.dumps(content, ensure_ascii=False, default=str)


def drop_failed_requests(
    messages: Iterable[dict[str, Any]], *, keep_last: bool = False
) -> list[dict[str, Any]]:
    """``messages`` without the requests that failed before the model answered.

    A request that never reached the model (no key, server down) stays in the
    session so the user sees it, but sending it again with every later request
    would make the model answer it over and over. Such a turn is a user message
    followed only by markers, one of them an ``error``. ``keep_last`` keeps the
    final one: ``%agent resume`` continues it.
    """
    messages = list(messages)
    starts = [i for i, m in enumerate(messages) if m.get("role") == "user"]
    drop: set[int] = set()
    for n, start in enumerate(starts):
        end = starts[n + 1] if n + 1 < len(starts) else len(messages)
        rest = messages[start + 1 : end]
        failed = bool(rest) and all(m.get("role") == "marker" for m in rest) and any(
            m.get("kind") == "error" for m in rest
        )
        if failed and not (keep_last and end == len(messages)):
            drop.update(range(start, end))
    return [m for i, m in enumerate(messages) if i not in drop]
