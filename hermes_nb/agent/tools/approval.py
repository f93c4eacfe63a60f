"""What the user sees when a tool asks for approval: the whole call, nothing hidden.

A prompt that shows only the first few hundred characters lets a command padded
with spaces hide its tail, which then runs after a "yes". Here every character of
every argument is shown; what a terminal or a browser would not show is made
visible: control and format characters (bidi overrides, zero-width spaces) are
escaped, and runs of spaces are collapsed into a count. A call too long to read
is refused rather than shown in part.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

__all__ = ["PROMPT_CHARS", "SHOW_CHARS", "Approval", "approval_for", "show_call"]

#: calls up to this long are shown in the ``input()`` prompt itself
PROMPT_CHARS = 1_000
#: longer calls are printed in full above the prompt, up to this; beyond, refused
SHOW_CHARS = 50_000

_SPACES = re.compile(r" {4,}")


def _visible(text: str) -> str:
    """``text`` with every character a reader could miss made visible."""
    out = []
    for ch in text:
        if ch == " " or ch.isprintable():
            out.append(ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        else:
            out.append(f"\\u{ord(ch):04x}" if ord(ch) <= 0xFFFF else f"\\U{ord(ch):08x}")
    return _SPACES.sub(lambda m: f" ⟪{len(m.group())} spaces⟫ ", "".join(out))


def show_call(name: str, arguments: dict[str, Any]) -> str:
    """``name(arg="value", ...)`` with every argument whole and visible."""
    parts = []
    for key, value in arguments.items():
        shown = json.dumps(value, ensure_ascii=False, default=str)
        parts.append(f"{_visible(str(key))}={_visible(shown)}")
    return f"{_visible(name)}({', '.join(parts)})"


@dataclass(frozen=True)
class Approval:
    """How to ask: ``above`` is printed first (None: nothing), then ``prompt`` is the
    ``input()`` prompt. ``refusal`` set means: do not ask, print it and refuse."""

    prompt: str = ""
    above: str | None = None
    refusal: str | None = None


def approval_for(name: str, arguments: dict[str, Any], reason: str = "") -> Approval:
    """The question for one call; ``reason`` (e.g. a path outside the notebook's
    folder) is said first."""
    call = show_call(name, arguments)
    why = f"{reason}. " if reason else ""
    if len(call) <= PROMPT_CHARS:
        return Approval(prompt=f"{why}Allow {call}? [y/N] ")
    if len(call) <= SHOW_CHARS:
        return Approval(
            prompt=f"{why}Allow the {name} call shown above ({len(call):,} characters)? [y/N] ",
            above=f"hermes_nb: the agent wants to run:\n{call}",
        )
    return Approval(
        refusal=(
            f"hermes_nb: refused a {name} call of {len(call):,} characters: too long to show "
            "in full for approval."
        )
    )
