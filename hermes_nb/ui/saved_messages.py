"""Reading saved messages for the history views: content as text, a call's arguments
as a value.

The Markdown, plain-text and HTML histories (``transcript``, ``history_text``,
``session_html``) all read session messages the same way; this is that reading, kept
below all three so none of them has to import another for it.
"""

from __future__ import annotations

from typing import Any

from hermes_nb.safety.depth import elide, loads_bounded

__all__ = ["content_text", "parse_args"]


def content_text(content: Any) -> str:
    """Message content as text; multimodal parts other than text become a placeholder."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        pieces = []
        for part in content:
            if isinstance(part, dict) and part.get("type") == "text":
                pieces.append(str(part.get("text", "")))
            elif isinstance(part, dict):
                pieces.append(f"*[{part.get('type', 'attachment')}]*")
            else:
                pieces.append(str(part))
        return "\n\n".join(pieces)
    return str(content)


def parse_args(raw: Any) -> Any:
    """A saved call's arguments (a JSON string) as a value; too deep or not JSON: the
    text itself, cut. Nothing deeper than ``depth.MAX_DEPTH`` comes out."""
    if isinstance(raw, str):
        try:
            return elide(loads_bounded(raw)) if raw.strip() else {}
        except ValueError:
            return raw if len(raw) <= 2000 else raw[:2000] + "…"
    return elide(raw) if raw is not None else {}
