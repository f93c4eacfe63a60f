"""A session's history as plain text, for terminals.

``%agent history`` shows Markdown in a notebook; a terminal shows only ``text/plain``,
where ``<details>`` tags and HTML entities would be noise. This is the same history,
numbered by turn the same way, written for a terminal: no markup, no escaping.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from hermes_nb.ui.fragments import args_summary
from hermes_nb.ui.saved_messages import content_text, parse_args
from hermes_nb.ui.state import ToolCard

__all__ = ["render_history_plain"]


def _indent(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def _call_lines(call: dict[str, Any], result: dict[str, Any] | None) -> str:
    function = call.get("function") or {}
    name = str(function.get("name") or "tool")
    args = parse_args(function.get("arguments"))
    head = f"⚙ {name}({args_summary(args, 60) if isinstance(args, dict) else '…'})"
    if result is None:
        return head + " — no result"
    if result.get("is_error") is True:
        head += " — failed"
    preview = ToolCard(result=content_text(result.get("content"))).preview
    return head + ("\n" + _indent(preview) if preview.strip() else "")


def render_history_plain(messages: Iterable[dict[str, Any]], *, title: str | None = None) -> str:
    """The session as plain text, user turns numbered from 1 (what ``fork N`` counts)."""
    messages = list(messages)
    results = {str(m.get("tool_call_id")): m for m in messages if m.get("role") == "tool"}
    shown: set[str] = set()
    out: list[str] = [f"{title}\n{'=' * min(len(title), 72)}"] if title else []
    turn = 0
    for message in messages:
        role = message.get("role")
        text = content_text(message.get("content")).strip("\n")
        if role == "user":
            turn += 1
            note = " (recovered after a kernel restart)" if message.get("recovered") else ""
            out.append(f"[{turn}] User{note}:\n{_indent(text)}")
        elif role == "assistant":
            parts = [f"Assistant:\n{_indent(text)}"] if text.strip() else []
            for call in message.get("tool_calls") or []:
                call_id = str(call.get("id"))
                result = results.get(call_id)
                if result is not None:
                    shown.add(call_id)
                parts.append(_indent(_call_lines(call, result), "  "))
            out.append("\n".join(parts))
        elif role == "tool":
            if str(message.get("tool_call_id")) not in shown:
                out.append(f"Tool result ({message.get('tool_call_id')}):\n{_indent(text)}")
        elif role == "marker":
            kind = str(message.get("kind", "note"))
            out.append(f"  ({kind}: {text})" if text else f"  ({kind})")
        elif role == "system":
            out.append(f"System prompt:\n{_indent(text)}")
        else:
            out.append(f"{role}:\n{_indent(text)}")
    return "\n\n".join(p for p in out if p) + "\n"
