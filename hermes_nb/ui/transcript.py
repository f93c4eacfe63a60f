"""Static copies of a turn and of a whole session.

A widget's state is not saved with a notebook, so at the end of a run the live view is
replaced by this transcript (HTML for the eye, Markdown for tools that read it, plain
text for diffs). Tool cards are ``<details>`` elements: collapsible without widgets.
``text/plain`` never holds times, so re-running a notebook gives the same text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from hermes_nb.safety.depth import elide
from hermes_nb.safety.safe_output import printable
from hermes_nb.ui.fragments import (
    REASONING_ICON,
    block_html,
    call_summary,
    card_title,
    code_argument,
    other_arguments,
    retry_text,
    status_html,
    status_text,
)
from hermes_nb.ui.history_text import render_history_plain
from hermes_nb.ui.markdown import escape, neutralize_html
from hermes_nb.ui.saved_messages import content_text, parse_args
from hermes_nb.ui.session_html import session_html
from hermes_nb.ui.state import (
    Block,
    ErrorBlock,
    NoticeBlock,
    ReasoningBlock,
    RetryBlock,
    TextBlock,
    ToolCard,
    TurnDisplay,
)

__all__ = [
    "EMPTY_ANSWER",
    "history_markdown",
    "history_mimebundle",
    "mimebundle",
    "render_history",
    "to_html",
    "to_markdown",
    "to_plain",
]

EMPTY_ANSWER = "The model returned no answer."
TURN_STYLE = "margin:2px 0;"


def _fence(content: str, lang: str = "") -> str:
    """A code fence longer than any backtick run inside ``content``."""
    longest = max((len(m) for m in re.findall(r"`+", content)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{lang}\n{content.rstrip(chr(10))}\n{ticks}"


def _quote(text: str) -> str:
    return "\n".join("> " + line for line in text.splitlines() or [""])


def _outputs_note(outputs: list[dict[str, Any]]) -> str:
    mimes = []
    for output in outputs:
        data = output.get("data", output)
        mimes.append(next((m for m in data if m != "text/plain"), "text/plain"))
    return f"*({len(outputs)} output{'s' if len(outputs) != 1 else ''}: {', '.join(mimes)})*"


def _nothing_shown(display: TurnDisplay) -> bool:
    return display.is_empty and not display.running


# -- Markdown -----------------------------------------------------------------


def _arguments_markdown(name: str, arguments: dict[str, Any]) -> list[str]:
    """Code as a fenced block in its language, the other arguments as JSON."""
    found = code_argument(name, arguments)
    rest = other_arguments(name, arguments)
    parts = []
    if rest or found is None:
        parts.append(_fence(json.dumps(elide(rest), indent=2, ensure_ascii=False, default=str), "json"))
    if found is not None:
        parts.append(_fence(found[1], found[2]))
    return parts


def _card_markdown(card: ToolCard, *, timing: bool) -> str:
    parts = [
        f"<details><summary>{escape(card_title(card, timing=timing))}</summary>",
        "",
        "**Arguments**",
        "",
        "\n\n".join(_arguments_markdown(card.name, card.arguments)),
    ]
    if card.result is not None:
        parts += ["", "**Result**", "", _fence(card.preview)]
    if card.outputs:
        parts += ["", _outputs_note(card.outputs)]
    parts += ["", "</details>"]
    return "\n".join(parts)


def _block_markdown(block: Block, *, timing: bool) -> str:
    if isinstance(block, ReasoningBlock):
        return _quote(f"{REASONING_ICON} " + neutralize_html(block.text.strip()))
    if isinstance(block, TextBlock):
        return neutralize_html(block.text.lstrip("\n").rstrip())
    if isinstance(block, ToolCard):
        return _card_markdown(block, timing=timing)
    if isinstance(block, ErrorBlock):
        return _quote(neutralize_html(f"**Error** ({escape(block.error_type)}): {escape(block.message)}"))
    if isinstance(block, RetryBlock):
        return _quote("↻ " + neutralize_html(escape(retry_text(block))))
    if isinstance(block, NoticeBlock):
        return _quote(neutralize_html(escape(block.text)))
    return ""


def to_markdown(display: TurnDisplay, *, timing: bool = False) -> str:
    """The turn as Markdown; with ``timing`` the status line includes times."""
    parts = [_block_markdown(b, timing=timing) for b in display.visible_blocks()]
    if _nothing_shown(display):
        parts.append(f"*{EMPTY_ANSWER}*")
    parts.append(f"*{status_text(display.status(), timing=timing)}*")
    return "\n\n".join(p for p in parts if p) + "\n"


# -- plain text ---------------------------------------------------------------


def _indent(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def _block_plain(block: Block) -> str:
    if isinstance(block, ReasoningBlock):
        return _indent(block.text.strip(), f"{REASONING_ICON} ")
    if isinstance(block, TextBlock):
        return block.text.lstrip("\n").rstrip()
    if isinstance(block, ToolCard):
        lines = [card_title(block, timing=False)]
        if block.result:
            lines.append(_indent(block.preview))
        if block.outputs:
            lines.append(f"    ({len(block.outputs)} rich output(s))")
        return "\n".join(lines)
    if isinstance(block, ErrorBlock):
        return f"Error ({block.error_type}): {block.message}"
    if isinstance(block, RetryBlock):
        return "↻ " + retry_text(block)
    if isinstance(block, NoticeBlock):
        return "Note: " + block.text
    return ""


def to_plain(display: TurnDisplay, *, status: bool = False) -> str:
    """Deterministic plain text: the same events always give the same string."""
    parts = [_block_plain(b) for b in display.visible_blocks()]
    if _nothing_shown(display):
        parts.append(EMPTY_ANSWER)
    if status:
        parts.append("[" + status_text(display.status(), timing=False) + "]")
    return "\n\n".join(p for p in parts if p)


# -- HTML ---------------------------------------------------------------------


def to_html(display: TurnDisplay) -> str:
    """The turn as one self-contained HTML fragment, status line first."""
    parts = [status_html(display.status())]
    parts += [block_html(b) for b in display.visible_blocks()]
    if _nothing_shown(display):
        parts.append(f'<div class="hermes-nb-empty"><i>{EMPTY_ANSWER}</i></div>')
    return f'<div class="hermes-nb-turn" style="{TURN_STYLE}">{"".join(parts)}</div>'


def mimebundle(display: TurnDisplay, *, plain_status: bool = False) -> dict[str, str]:
    """For ``display(bundle, raw=True)`` or ``DisplayHandle.update(bundle, raw=True)``."""
    return printable(
        {
            "text/plain": to_plain(display, status=plain_status),
            "text/markdown": to_markdown(display),
            "text/html": to_html(display),
        }
    )


# -- a whole session ------------------------------------------------------------


def _history_call(call: dict[str, Any], result: dict[str, Any] | None, *, full: bool) -> str:
    function = call.get("function") or {}
    name = str(function.get("name") or "tool")
    args = parse_args(function.get("arguments"))
    if isinstance(args, dict):
        summary = f"⚙ {call_summary(name, args)}"
        shown = "\n\n".join(_arguments_markdown(name, args))
    else:
        summary, shown = f"⚙ {name}(…)", _fence(str(args), "json")
    if result is None:
        summary += " — no result"
    elif result.get("is_error") is True:
        summary += " — failed"
    lines = [f"<details><summary>{escape(summary)}</summary>", "", shown]
    if result is not None:
        card = ToolCard(result=content_text(result.get("content")))
        lines += ["", "**Result**", "", _fence(card.result or "" if full else card.preview)]
    lines += ["", "</details>"]
    return "\n".join(lines)


def render_history(
    messages: Iterable[dict[str, Any]],
    *,
    title: str | None = None,
    full_results: bool = False,
    headings: bool = False,
) -> str:
    """A session's messages as Markdown, each tool result inside its call's card.

    User turns are numbered from 1: ``%agent fork N`` keeps the first N of them.

    Tool results are cut to a preview unless ``full_results`` (for an export that
    should keep everything). Labels are bold text unless ``headings`` (an export file
    is a document of its own; inside a notebook, headings would compete with the
    notebook's own and fill its table of contents).
    """
    h1, h2 = ("# ", "## ") if headings else ("", "")
    messages = list(messages)
    results = {
        str(m.get("tool_call_id")): m
        for m in messages
        if m.get("role") == "tool" and m.get("tool_call_id") is not None
    }
    shown_results: set[str] = set()
    out: list[str] = [_label(h1, neutralize_html(title))] if title else []
    previous = ""
    turn = 0
    for message in messages:
        role = message.get("role")
        raw = content_text(message.get("content")).strip("\n")
        text = neutralize_html(raw)
        if role == "user":
            turn += 1
            note = " *(recovered after a kernel restart)*" if message.get("recovered") else ""
            out.append(f"{_label(h2, f'{turn}. User')}{note}\n\n{text}")
        elif role == "assistant":
            parts = [] if previous in ("assistant", "tool") else [_label(h2, "Assistant")]
            if text:
                parts.append(text)
            for call in message.get("tool_calls") or []:
                call_id = str(call.get("id"))
                result = results.get(call_id)
                if result is not None:
                    shown_results.add(call_id)
                parts.append(_history_call(call, result, full=full_results))
            out.append("\n\n".join(parts))
        elif role == "tool":
            if str(message.get("tool_call_id")) in shown_results:
                continue
            call = neutralize_html(escape(str(message.get("tool_call_id")).replace("`", "'")))
            out.append(f"**Tool result** (`{call}`)\n\n{_fence(raw)}")
        elif role == "marker":
            kind = neutralize_html(escape(str(message.get("kind", "note"))))
            out.append(_quote(f"**{kind}**: {text}" if text else f"**{kind}**"))
        elif role == "system":
            out.append(f"<details><summary>System prompt</summary>\n\n{_fence(raw)}\n\n</details>")
        else:
            out.append(f"**{role}**\n\n{text}")
        previous = str(role) if role != "marker" else previous
    return "\n\n".join(p for p in out if p) + "\n"


def _label(heading: str, text: str) -> str:
    return f"{heading}{text}" if heading else f"**{text}**"


def history_markdown(messages: Iterable[dict[str, Any]], *, title: str | None = None) -> str:
    """A session as Markdown for an export file: tool results kept whole, headings."""
    return render_history(messages, title=title, full_results=True, headings=True)


def history_mimebundle(
    messages: Iterable[dict[str, Any]], *, title: str | None = None
) -> dict[str, str]:
    """A session for ``display(bundle, raw=True)``: HTML (tool cards with highlighted
    code) for notebooks, Markdown, and plain text without tags or entities for
    terminals, which show only ``text/plain``."""
    messages = list(messages)
    return printable(
        {
            "text/plain": render_history_plain(messages, title=title),
            "text/markdown": render_history(messages, title=title),
            "text/html": session_html(messages, title=title),
        }
    )
