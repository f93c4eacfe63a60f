"""Small HTML and text pieces shared by the live widget and the static transcript.

Styles are inline (a saved notebook has no stylesheet of ours) and use translucent
colours so they read on light and dark themes. Anything that changes from one run to
the next (elapsed time, durations, tokens per second) sits in a span of class
``hermes-nb-volatile`` so a notebook output sanitizer can find and drop it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from hermes_nb.safety.depth import elide
from hermes_nb.safety.safe_output import IMAGE_TYPES, safe_bundle
from hermes_nb.ui.markdown import escape, render_markdown
from hermes_nb.ui.state import (
    Block,
    ErrorBlock,
    NoticeBlock,
    ReasoningBlock,
    RetryBlock,
    StatusLine,
    TextBlock,
    ToolCard,
)

__all__ = [
    "REASONING_ICON",
    "STATUS_ICONS",
    "VOLATILE_CLASS",
    "CODE_ARGUMENTS",
    "args_summary",
    "arguments_html",
    "block_html",
    "call_summary",
    "card_body_html",
    "card_title",
    "code_argument",
    "code_html",
    "error_html",
    "fmt_duration",
    "notice_html",
    "other_arguments",
    "outputs_html",
    "retry_html",
    "retry_text",
    "status_html",
    "status_text",
]

VOLATILE_CLASS = "hermes-nb-volatile"

# Every glyph here is in DejaVu Sans, the fallback font of nearly every Linux machine,
# browser and JupyterHub image; emoji (hourglass, no-entry sign, thought balloon) are
# not, and show as empty boxes wherever no emoji font is installed.
STATUS_ICONS = {
    "running": "◌",
    "done": "✓",
    "failed": "✗",
    "denied": "⊘",
    "rejected": "⊘",
    "cancelled": "■",
    "interrupted": "↯",
}
REASONING_ICON = "∴"

_BOX = "border-radius:4px;padding:4px 8px;margin:4px 0;"
ERROR_STYLE = _BOX + "border:1px solid #d33;background:rgba(221,51,51,0.10);color:inherit;"
NOTICE_STYLE = _BOX + "border-left:3px solid #888;background:rgba(128,128,128,0.08);"
RETRY_STYLE = _BOX + "border-left:3px solid #c80;background:rgba(204,136,0,0.08);"
STATUS_STYLE = "font-size:0.85em;opacity:0.75;margin:2px 0 4px 0;"
CARD_STYLE = (
    "border:1px solid rgba(128,128,128,0.35);border-radius:4px;padding:2px 8px;margin:4px 0;"
)
PRE_STYLE = (
    "white-space:pre-wrap;word-break:break-word;margin:2px 0 6px 0;padding:4px 6px;"
    "background:rgba(128,128,128,0.08);border-radius:3px;max-height:24em;overflow:auto;"
)


def fmt_duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}m {secs:02d}s"


def _volatile(text: str) -> str:
    return f'<span class="{VOLATILE_CLASS}">{escape(text)}</span>'


def args_summary(arguments: dict[str, Any], limit: int = 80) -> str:
    """``code='print(1)'``-style one line, cut to ``limit`` characters."""
    parts = []
    for key, value in arguments.items():
        shown = repr(value) if isinstance(value, str) else json.dumps(elide(value), default=str)
        parts.append(f"{key}={shown}")
    line = ", ".join(parts).replace("\n", "\\n")
    return line if len(line) <= limit else line[: limit - 1] + "…"


def call_summary(name: str, arguments: dict[str, Any], limit: int = 60) -> str:
    """``name(...)`` on one line. Code shows its first line and how many follow, never
    a string full of ``\\n``: ``python(df = load() … +3 lines)``."""
    found = code_argument(name, arguments)
    if found is None:
        return f"{name}({args_summary(arguments, limit)})"
    lines = found[1].strip("\n").splitlines() or [""]
    first = lines[0].strip()
    first = first if len(first) <= limit else first[: limit - 1] + "…"
    more = len(lines) - 1
    tail = f" … +{more} line{'s' if more > 1 else ''}" if more else ""
    rest = other_arguments(name, arguments)
    head = f"{args_summary(rest, 40)}: " if rest else ""
    return f"{name}({head}{first}{tail})"


def card_title(card: ToolCard, *, timing: bool = True) -> str:
    """One plain line: icon, call, status and (optionally) how long it took."""
    title = f"⚙ {call_summary(card.name, card.arguments)} {STATUS_ICONS[card.status]} {card.status}"
    if timing and card.duration is not None:
        title += f" in {fmt_duration(card.duration)}"
    return title


def _numbers(status: StatusLine) -> list[str]:
    """The deterministic part of the status line: model, tokens, cost."""
    parts = [status.model or "unknown model"]
    if status.input_tokens or status.output_tokens:
        cached = f" ({status.cached_tokens:,} cached)" if status.cached_tokens else ""
        parts.append(f"{status.input_tokens:,} in{cached} / {status.output_tokens:,} out")
    if status.cost:  # None: no price known; 0: a free model, nothing worth showing
        parts.append(f"${status.cost:.4f}" if status.cost >= 0.0001 else "<$0.0001")
    if status.stop_reason and status.stop_reason != "complete":
        parts.append(status.stop_reason.replace("_", " "))
    return parts


def _timing(status: StatusLine) -> str:
    """Elapsed time, and the rate when it was measured: one piece, so whether a rate is
    shown or not, a notebook sanitizer replaces the same single span."""
    text = fmt_duration(status.elapsed)
    if status.tokens_per_second is not None:
        text += f" · {status.tokens_per_second:.1f} tok/s"
    return text


def status_text(status: StatusLine, *, timing: bool = False) -> str:
    parts = _numbers(status)
    if timing:
        parts.insert(1, _timing(status))
    return " · ".join(parts)


def status_html(status: StatusLine, *, live: bool = False) -> str:
    """The status line; while ``live``, elapsed shows whole seconds so it changes rarely."""
    parts = [escape(p) for p in _numbers(status)]
    if status.running and live:
        parts.insert(1, _volatile(f"{int(status.elapsed)}s") + " · running…")
    else:
        parts.insert(1, _volatile(_timing(status)))
    return f'<div class="hermes-nb-status" style="{STATUS_STYLE}">{" · ".join(parts)}</div>'


#: Tools whose main argument is code or file text: (argument, language or None to
#: guess from the ``path`` argument's extension).
CODE_ARGUMENTS: dict[str, tuple[str, str | None]] = {
    "python": ("code", "python"),
    "shell": ("command", "bash"),
    "write_file": ("content", None),
}

_EXTENSION_LANGS = {
    "py": "python", "sh": "bash", "bash": "bash", "js": "javascript", "ts": "typescript",
    "json": "json", "md": "markdown", "html": "html", "css": "css", "sql": "sql",
    "yaml": "yaml", "yml": "yaml", "toml": "toml", "r": "r", "csv": "", "txt": "",
}  # fmt: skip


def code_argument(name: str, arguments: dict[str, Any]) -> tuple[str, str, str] | None:
    """``(argument name, code, language)`` when the call's main argument is code.

    Shown as a code block instead of a JSON string full of ``\\n``. The language is ""
    when unknown (plain block).
    """
    spec = CODE_ARGUMENTS.get(name)
    if spec is None:
        return None
    key, lang = spec
    code = arguments.get(key)
    if not isinstance(code, str):
        return None
    if lang is None:
        path = str(arguments.get("path") or "")
        ext = path.rsplit(".", 1)[-1].lower() if "." in path else ""
        lang = _EXTENSION_LANGS.get(ext, "")
    return key, code, lang


def other_arguments(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """The arguments not shown as code."""
    found = code_argument(name, arguments)
    return {k: v for k, v in arguments.items() if found is None or k != found[0]}


def code_html(code: str, lang: str) -> str:
    """A highlighted, scrolling code block (Pygments with inline styles, no stylesheet)."""
    from hermes_nb.ui.markdown import highlight_code

    coloured = highlight_code(code, lang)
    body = coloured if coloured else escape(code)
    return f'<pre class="hermes-nb-code" style="{PRE_STYLE}white-space:pre;">{body}</pre>'


def arguments_html(name: str, arguments: dict[str, Any]) -> str:
    """The call's arguments: code as a highlighted block, the rest as JSON."""
    found = code_argument(name, arguments)
    rest = other_arguments(name, arguments)
    parts = []
    if rest or found is None:
        args = json.dumps(elide(rest), indent=2, ensure_ascii=False, default=str)
        parts.append(f'<pre style="{PRE_STYLE}">{escape(args)}</pre>')
    if found is not None:
        key, code, lang = found
        label = f"<div><i>{escape(key)}</i></div>" if rest else ""
        parts.append(label + code_html(code, lang))
    return "".join(parts)


def card_body_html(card: ToolCard) -> str:
    """Arguments, status, duration and result preview of one call."""
    rows = [
        "<div><b>Arguments</b></div>" + arguments_html(card.name, card.arguments),
        f"<div><b>Status</b>: {STATUS_ICONS[card.status]} {escape(card.status)}"
        + (f" in {_volatile(fmt_duration(card.duration))}" if card.duration is not None else "")
        + "</div>",
    ]
    if card.result is not None:
        rows.append(
            f'<div><b>Result</b></div><pre style="{PRE_STYLE}">{escape(card.preview)}</pre>'
        )
    return "".join(rows)


def _output_html(bundle: Any) -> str:
    """An image we show as an inline ``data:`` image, anything else as escaped text."""
    data = safe_bundle(bundle)["data"]
    for mime in IMAGE_TYPES:
        if mime in data:
            return f'<img src="data:{mime};base64,{escape(data[mime])}" style="max-width:100%"/>'
    text = str(data.get("text/plain", ""))
    return f'<pre style="{PRE_STYLE}">{escape(text)}</pre>' if text else ""


def outputs_html(outputs: Iterable[dict[str, Any]]) -> str:
    """Rich outputs (``{"data": {mime: value}}`` bundles) as static HTML: only images we
    show (checked by ``hermes_nb.safety.safe_output``) and escaped text, never their HTML."""
    return "".join(_output_html(o) for o in outputs)


def notice_html(block: NoticeBlock) -> str:
    return f'<div class="hermes-nb-notice" style="{NOTICE_STYLE}">{escape(block.text)}</div>'


def error_html(block: ErrorBlock) -> str:
    return (
        f'<div class="hermes-nb-error" style="{ERROR_STYLE}"><b>{escape(block.error_type)}</b>: '
        f"{escape(block.message)}</div>"
    )


def retry_text(block: RetryBlock) -> str:
    return f"Retrying (attempt {block.attempt}) after {block.delay:.1f}s: {block.reason}"


def retry_html(block: RetryBlock) -> str:
    return f'<div class="hermes-nb-retry" style="{RETRY_STYLE}">↻ {escape(retry_text(block))}</div>'


def _card_html(card: ToolCard) -> str:
    body = card_body_html(card)
    if card.outputs:
        body += "<div><b>Outputs</b></div>" + outputs_html(card.outputs)
    return (
        f'<details class="hermes-nb-tool hermes-nb-tool-{card.status}" style="{CARD_STYLE}">'
        f"<summary>{escape(card_title(card, timing=False))}</summary>{body}</details>"
    )


def block_html(block: Block) -> str:
    """One block as static HTML (the live widget draws text blocks itself)."""
    if isinstance(block, ReasoningBlock):
        return (
            f'<details class="hermes-nb-reasoning" style="{CARD_STYLE}opacity:0.8">'
            f"<summary>{REASONING_ICON} Reasoning</summary>"
            f"{render_markdown(block.text)}</details>"
        )
    if isinstance(block, TextBlock):
        return f'<div class="hermes-nb-text">{render_markdown(block.text)}</div>'
    if isinstance(block, ToolCard):
        return _card_html(block)
    if isinstance(block, ErrorBlock):
        return error_html(block)
    if isinstance(block, RetryBlock):
        return retry_html(block)
    if isinstance(block, NoticeBlock):
        return notice_html(block)
    return ""
