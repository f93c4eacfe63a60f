"""A server's question to the user (MCP elicitation), asked in the cell like an approval.

While one of its tools runs, a server may ask the user for a few values (a form: a
message and a flat JSON Schema of strings, numbers, booleans and choices). The question
goes through the same ``input()`` prompt as tool approvals, on the cell thread, with the
server named; the user may decline. Where nobody can answer (no cell thread, a headless
run without stdin) it is declined. A request to open a URL is always declined: a
notebook does not send the user to a page a server picked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["Answer", "ask_form"]

#: (action, content): "accept" with the values, "decline", or "cancel"
Answer = tuple[str, dict[str, Any] | None]


def ask_form(server: str, message: str, schema: dict[str, Any], read: Callable[[str], str] = input) -> Answer:
    """Ask the form on this thread with ``read`` (``input``); bad values decline it."""
    print(f"The MCP server {server!r} asks: {message}")
    try:
        if read("Answer it? [y/N] ").strip().lower() not in ("y", "yes"):
            return "decline", None
        content: dict[str, Any] = {}
        required = set(schema.get("required") or ())
        for name, spec in (schema.get("properties") or {}).items():
            spec = spec if isinstance(spec, dict) else {}
            value = _field(str(name), spec, name in required, read)
            if value is not None:
                content[str(name)] = value
    except ValueError as exc:
        print(f"Declined: {exc}")
        return "decline", None
    return "accept", content


def _field(name: str, spec: dict[str, Any], required: bool, read: Callable[[str], str]) -> Any:
    kind = str(spec.get("type") or "string")
    choices = spec.get("enum") or [o.get("const") for o in spec.get("oneOf") or () if isinstance(o, dict)]
    label = str(spec.get("title") or name)
    items = _items(spec)
    several = items.get("enum") or [o.get("const") for o in items.get("anyOf") or () if isinstance(o, dict)]
    if choices:
        hint = f" ({'/'.join(map(str, choices))})"
    elif several:
        hint = f" (any of {', '.join(map(str, several))}, separated by commas)"
    else:
        hint = f" ({kind})"
    default = spec.get("default")
    if default is not None:
        hint += f" [{default}]"
    text = read(f"{label}{hint}: ").strip()
    if not text:
        if default is not None:
            return default
        if required:
            raise ValueError(f"{label} is required")
        return None
    if kind == "array":  # several choices, separated by commas
        allowed = items.get("enum") or [o.get("const") for o in items.get("anyOf") or () if isinstance(o, dict)]
        picked = [part.strip() for part in text.split(",") if part.strip()]
        if allowed and any(p not in map(str, allowed) for p in picked):
            raise ValueError(f"{label}: choose from {', '.join(map(str, allowed))}")
        return picked
    if choices:
        if text not in map(str, choices):
            raise ValueError(f"{label}: choose one of {', '.join(map(str, choices))}")
        return next(c for c in choices if str(c) == text)
    if kind == "boolean":
        return text.lower() in ("y", "yes", "true", "1")
    if kind in ("number", "integer"):
        try:
            return int(text) if kind == "integer" else float(text)
        except ValueError:
            raise ValueError(f"{label}: {text!r} is not a {kind}") from None
    return text


def _items(spec: dict[str, Any]) -> dict[str, Any]:
    items = spec.get("items")
    return items if isinstance(items, dict) else {}
