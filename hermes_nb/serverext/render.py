"""What the server draws from a session: a page of its transcript, and its export
as a stream of chunks.

A session may hold 100,000 messages (25 MB): drawing all of them for the sidebar
built a string of hundreds of megabytes and held the server for many seconds. So a
transcript is served a page at a time (the latest messages unless the request names
an offset), and an export is written one turn at a time.

A session file may also be hostile: a lone surrogate (not encodable as UTF-8) is
written as its ``\\uXXXX`` escape, and tool-call arguments nested deeper than a
parser's recursion limit are shown as a short note instead of failing the request.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = [
    "MAX_PAGE",
    "PAGE",
    "Page",
    "encode",
    "json_chunks",
    "markdown_chunks",
    "page_of",
    "rendered",
    "well_formed",
]

#: messages in a transcript page when the request names no ``limit``
PAGE = 400
#: the largest page a request may ask for
MAX_PAGE = 2000
#: bytes gathered before an export chunk is handed to the connection
CHUNK_BYTES = 1 << 20

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
T = TypeVar("T")


def encode(text: str) -> bytes:
    """UTF-8 that never fails: a lone surrogate becomes its ``\\uXXXX`` escape (inside
    a JSON string that escape reads back as the same character)."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text).encode("utf-8")


@dataclass(frozen=True)
class Page:
    """The messages ``[offset, offset + len(messages))`` of ``total``."""

    offset: int
    total: int
    messages: list[dict[str, Any]]

    @property
    def end(self) -> int:
        return self.offset + len(self.messages)

    @property
    def whole(self) -> bool:
        return self.offset == 0 and self.end == self.total

    def as_json(self) -> dict[str, int]:
        return {"offset": self.offset, "count": len(self.messages), "total": self.total}


def page_of(messages: list[dict[str, Any]], offset: int | None, limit: int) -> Page:
    """A page of ``messages``. Without an offset, the latest ``limit`` messages,
    starting at a user request where one is in reach (so each tool result is drawn
    inside its call's card)."""
    total = len(messages)
    if offset is None:
        start = max(0, total - limit)
        if start > 0:
            start = next((i for i in range(start, total) if messages[i].get("role") == "user"), start)
    else:
        start = min(offset, total)
    return Page(start, total, messages[start : start + limit])


# --------------------------------------------------------------------------- shapes


def _call(call: Any) -> dict[str, Any] | None:
    """A tool call the renderers can draw, or None for something that is not one."""
    if not isinstance(call, dict):
        return None
    function = call.get("function")
    function = function if isinstance(function, dict) else {}
    name, arguments = function.get("name"), function.get("arguments")
    if isinstance(name, str) and isinstance(arguments, (str, dict)) and isinstance(call.get("id"), (str, type(None))):
        return call
    if not isinstance(arguments, (str, dict)):
        arguments = json.dumps(arguments) if arguments is not None else "{}"
    fixed = {"name": name if isinstance(name, str) else "tool", "arguments": arguments}
    call_id = call.get("id")
    return {**call, "id": call_id if isinstance(call_id, (str, type(None))) else str(call_id), "function": fixed}


def well_formed(message: dict[str, Any]) -> dict[str, Any]:
    """``message`` with its tool calls in the shape the renderers expect: a session
    file may hold anything where a list of calls belongs."""
    calls = message.get("tool_calls")
    if calls is None or isinstance(calls, list) and all(_call(c) is c for c in calls):
        return message
    kept = [c for c in map(_call, calls if isinstance(calls, list) else []) if c is not None]
    return {**message, "tool_calls": kept}


# --------------------------------------------------------------------------- depth


def _too_deep(raw: Any) -> bool:
    if not isinstance(raw, str):
        return False
    try:
        json.loads(raw)
    except RecursionError:
        return True
    except ValueError:
        return False
    return False


def _flattened(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``messages`` with tool-call arguments too deep to parse replaced by a note."""
    out = []
    for message in messages:
        calls = message.get("tool_calls")
        if isinstance(calls, list) and any(
            isinstance(c, dict) and isinstance(c.get("function"), dict)
            and _too_deep(c["function"].get("arguments"))
            for c in calls
        ):  # fmt: skip
            fixed = []
            for call in calls:
                function = call.get("function") if isinstance(call, dict) else None
                if isinstance(function, dict) and _too_deep(function.get("arguments")):
                    note = f"(arguments nested too deep to show: {len(function['arguments'])} characters)"
                    call = {**call, "function": {**function, "arguments": json.dumps({"arguments": note})}}
                fixed.append(call)
            message = {**message, "tool_calls": fixed}
        out.append(message)
    return out


def rendered(draw: Callable[[list[dict[str, Any]]], T], messages: list[dict[str, Any]]) -> T:
    """``draw(messages)``; when something in them is nested past the recursion limit,
    drawn again with those arguments replaced by a note."""
    try:
        return draw(messages)
    except RecursionError:
        return draw(_flattened(messages))


# --------------------------------------------------------------------------- export


def _turns(messages: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """``messages`` cut before each user request."""
    turn: list[dict[str, Any]] = []
    for message in messages:
        if message.get("role") == "user" and turn:
            yield turn
            turn = []
        turn.append(message)
    if turn:
        yield turn


def _gathered(pieces: Iterator[str]) -> Iterator[bytes]:
    """``pieces`` as UTF-8 chunks of about ``CHUNK_BYTES``."""
    buffer: list[bytes] = []
    size = 0
    for piece in pieces:
        data = encode(piece)
        buffer.append(data)
        size += len(data)
        if size >= CHUNK_BYTES:
            yield b"".join(buffer)
            buffer, size = [], 0
    if buffer:
        yield b"".join(buffer)


def markdown_chunks(messages: list[dict[str, Any]], title: str) -> Iterator[bytes]:
    """The Markdown export (``history_markdown``), drawn one turn at a time: the whole
    text of a large session is never held at once. User turns keep their numbers."""
    from hermes_nb.ui.transcript import history_markdown

    def pieces() -> Iterator[str]:
        number = 0
        for i, turn in enumerate(_turns(messages)):
            draw = functools.partial(history_markdown, title=title if i == 0 else None)
            text = rendered(draw, turn)
            if turn[0].get("role") == "user":
                number += 1
                if number > 1:  # each turn is drawn alone, so it says "1. User"
                    text = text.replace("# 1. User", f"# {number}. User", 1)
            yield text if i == 0 else "\n" + text

    if not messages:
        return _gathered(iter([history_markdown([], title=title)]))
    return _gathered(pieces())


def _indented(value: Any, depth: int) -> str:
    text = json.dumps(value, indent=1, ensure_ascii=False)
    return text.replace("\n", "\n" + " " * depth)  # JSON strings hold no raw newline


def json_chunks(data: dict[str, Any]) -> Iterator[bytes]:
    """``json.dumps(data, indent=1)`` written a message at a time."""

    def pieces() -> Iterator[str]:
        yield "{"
        for n, (key, value) in enumerate(data.items()):
            yield ("\n" if n == 0 else ",\n") + " " + json.dumps(key, ensure_ascii=False) + ": "
            if key == "messages" and isinstance(value, list) and value:
                yield "["
                for i, message in enumerate(value):
                    yield ("\n  " if i == 0 else ",\n  ") + _indented(message, 2)
                yield "\n ]"
            else:
                yield _indented(value, 1)
        yield "\n}" if data else "}"

    return _gathered(pieces())
