"""Saved messages as static HTML: a whole session, or the turn of one run.

The sessions sidebar, the repaired view of a dead run and ``%agent history`` all show
what a session file holds, not a live turn; this draws it with the same pieces as the
live transcript (tool cards with highlighted code, notices), from messages instead of
events. Model text goes through the safe Markdown renderer; everything else is
escaped. Labels are bold text, never headings (no entries in a notebook's contents).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from hermes_nb.safety.safe_output import printable
from hermes_nb.ui.fragments import ERROR_STYLE, NOTICE_STYLE, block_html
from hermes_nb.ui.markdown import escape, render_markdown
from hermes_nb.ui.saved_messages import parse_args
from hermes_nb.ui.state import ToolCard, ToolStatus, status_of_result

__all__ = ["marker_state", "messages_html", "session_html"]

USER_STYLE = (
    "border-left:3px solid rgba(33,150,243,0.7);background:rgba(33,150,243,0.06);"
    "padding:4px 8px;margin:6px 0;border-radius:3px;"
)
LABEL_STYLE = "font-size:0.85em;opacity:0.7;margin:6px 0 2px 0;"
_MARKER_STATES = {"interrupted": "interrupted", "cancelled": "cancelled", "error": "failed"}


def _text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict) and part.get("type") == "text":
                parts.append(str(part.get("text", "")))
            elif isinstance(part, dict):
                parts.append(f"[{part.get('type', 'attachment')}]")
        return "\n\n".join(parts)
    return str(content)


def _arguments(raw: Any) -> dict[str, Any]:
    value = parse_args(raw)
    if isinstance(raw, str) and not isinstance(value, dict):
        return {"arguments": value}
    return value if isinstance(value, dict) else {}


def _call_status(result: str | None, live: bool, is_error: bool = False) -> ToolStatus:
    """A saved call's status: its result's ``is_error`` flag where the session keeps one,
    else guessed from the result text (files written before the flag existed).

    A call without a result in a turn that is not running anymore was cut short by
    the kernel stopping (a cancel or a restore writes a result).
    """
    if result is None:
        return "running" if live else "interrupted"
    refused = status_of_result(result)
    if refused != "failed" or is_error:
        return refused
    head = result.strip().lower()
    if head.startswith(("[error]", "error", "traceback")) or "\n[error]\n" in result:
        return "failed"
    return "done"


def _card(call: Any, results: dict[str, dict[str, Any]], live: bool) -> str:
    if not isinstance(call, dict):
        return ""
    raw = call.get("function")
    function: dict[str, Any] = raw if isinstance(raw, dict) else {}
    call_id = str(call.get("id"))
    found = results.get(call_id)
    result = None if found is None else _text(found.get("content"))
    failed = found is not None and found.get("is_error") is True
    card = ToolCard(
        call_id=call_id,
        name=str(function.get("name") or "tool"),
        arguments=_arguments(function.get("arguments")),
        status=_call_status(result, live, failed),
        result=result,
    )
    return block_html(card)


def _marker(message: dict[str, Any]) -> str:
    kind = str(message.get("kind") or "note")
    text = escape(_text(message.get("content")))
    style = ERROR_STYLE if kind == "error" else NOTICE_STYLE
    return (
        f'<div class="hermes-nb-marker hermes-nb-marker-{escape(kind)}" style="{style}">'
        f"<b>{escape(kind)}</b>: {text}</div>"
    )


def messages_html(
    messages: Sequence[dict[str, Any]], *, live: bool = False, numbered: bool = False
) -> str:
    """Messages as HTML, each tool result inside its call's card.

    ``numbered``: user turns are numbered from 1, as ``%agent fork N`` counts them
    (for a whole session, not for one run's turn).

    ``live``: the turn is still running, so a call without a result is shown as
    running rather than cancelled.
    """
    results = {
        str(m.get("tool_call_id")): m
        for m in messages
        if isinstance(m, dict) and m.get("role") == "tool"
    }
    calls = {
        str(c.get("id"))
        for m in messages
        if isinstance(m, dict) and m.get("role") == "assistant"
        for c in m.get("tool_calls") or ()
        if isinstance(c, dict)
    }
    out: list[str] = []
    previous = ""
    turn = 0
    for message in messages:
        if not isinstance(message, dict):
            continue
        role = message.get("role")
        text = _text(message.get("content")).strip("\n")
        if role == "user":
            note = " (recovered after a kernel restart)" if message.get("recovered") else ""
            turn += 1
            label = f"{turn}. User" if numbered else "User"
            out.append(
                f'<div class="hermes-nb-user" style="{USER_STYLE}">'
                f'<div style="{LABEL_STYLE}"><b>{label}</b>{escape(note)}</div>'
                f"{render_markdown(text)}</div>"
            )
        elif role == "assistant":
            if previous not in ("assistant", "tool"):
                out.append(f'<div style="{LABEL_STYLE}"><b>Assistant</b></div>')
            if text.strip():
                out.append(f'<div class="hermes-nb-text">{render_markdown(text)}</div>')
            out.extend(_card(c, results, live) for c in message.get("tool_calls") or ())
        elif role == "tool":
            if str(message.get("tool_call_id")) not in calls:
                out.append(block_html(ToolCard(name="tool result", status="done", result=text)))
        elif role == "marker":
            out.append(_marker(message))
        elif role == "system":
            out.append(
                f"<details><summary>System prompt</summary><pre>{escape(text)}</pre></details>"
            )
        if role != "marker":
            previous = str(role)
    return printable(f'<div class="hermes-nb-history">{"".join(out)}</div>')


def session_html(messages: Iterable[dict[str, Any]], *, title: str | None = None) -> str:
    """A whole session: its title in bold, then every message."""
    head = printable(f'<div class="hermes-nb-title"><b>{escape(title)}</b></div>') if title else ""
    return head + messages_html(list(messages), numbered=True)


def marker_state(messages: Sequence[dict[str, Any]]) -> str:
    """How a finished turn ended, from its closing marker: "interrupted", "cancelled",
    "failed", or "done"."""
    last = messages[-1] if messages else None
    if isinstance(last, dict) and last.get("role") == "marker":
        return _MARKER_STATES.get(str(last.get("kind")), "done")
    return "done"
