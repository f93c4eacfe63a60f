"""Bounded nesting for JSON we parse or show: tool-call arguments, session data.

A model can send arguments nested thousands of levels deep; ``json.loads`` then raises
``RecursionError`` (the whole run ended with it), and every later rendering of the
saved call failed the same way (``%agent history``, exports, the session's view).
``loads_bounded`` measures the nesting first (one pass over the text, no recursion)
and refuses what is deeper than ``MAX_DEPTH``; ``elide`` cuts a value for display,
putting ``…`` where deeper parts were.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["ELIDED", "MAX_DEPTH", "TooDeepError", "elide", "json_depth", "loads_bounded"]

MAX_DEPTH = 64
ELIDED = "…"


class TooDeepError(ValueError):
    """JSON nested deeper than we parse."""


def json_depth(text: str, stop: int | None = None) -> int:
    """The deepest nesting of ``[``/``{`` in JSON ``text`` (strings skipped); counting
    stops once ``stop`` is passed."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if stop is not None and deepest > stop:
                    return deepest
        elif ch in "]}":
            depth -= 1
    return deepest


def loads_bounded(text: str, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads`` of text nested at most ``max_depth`` deep; ``TooDeepError`` (a
    ``ValueError``) otherwise, and for a ``RecursionError`` met anyway."""
    if json_depth(text, stop=max_depth) > max_depth:
        raise TooDeepError(f"nested deeper than {max_depth} levels")
    try:
        return json.loads(text)
    except RecursionError:
        raise TooDeepError(f"nested too deep to read (over {max_depth} levels)") from None


def elide(value: Any, max_depth: int = MAX_DEPTH) -> Any:
    """``value`` with lists and dicts below ``max_depth`` levels replaced by ``…``."""
    if not isinstance(value, (dict, list, tuple)):
        return value
    if max_depth <= 0:
        return ELIDED
    if isinstance(value, dict):
        return {k: elide(v, max_depth - 1) for k, v in value.items()}
    return [elide(v, max_depth - 1) for v in value]
