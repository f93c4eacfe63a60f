"""Parsing a session file from a file descriptor, a window at a time.

``json.loads`` of a whole file holds its text (or bytes and text) and every object
built from it at once: 3.3x the file at the peak for a 100 MB session. A session file
is one object whose bulk is the ``messages`` list, so this parser reads the file in
windows of about 1 MB, builds the top-level object key by key and the lists element
by element with ``json``'s own scanner, and drops each window's text once parsed:
the peak is then the objects plus a window.

The result is what ``json.loads`` gives for the same bytes (UTF-8, an optional BOM);
anything ``json.loads`` would refuse raises ``ValueError`` (or ``RecursionError`` for
nesting too deep), which the caller reports as a corrupt file.
"""

from __future__ import annotations

import codecs
import json
import os
from typing import Any

__all__ = ["load_object"]

_WINDOW = 1 << 20
_WS = " \t\n\r"
#: ``json``'s scanner (C): one value at an index -> (value, end); StopIteration if none.
_SCAN = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


class _Reader:
    """Text read from ``fd`` on demand; ``text[pos:]`` is what is not parsed yet."""

    def __init__(self, fd: int, limit: int) -> None:
        self.fd = fd
        self.limit = limit
        self.size = 0  # bytes read so far
        self.decoder = codecs.getincrementaldecoder("utf-8-sig")("surrogatepass")
        self.text = ""
        self.pos = 0
        self.eof = False

    def fill(self) -> None:
        """Read more: at least a window, and as much again as is buffered (a long value
        parsed again after each read then costs linear time, not quadratic)."""
        if self.eof:
            raise ValueError("unexpected end of data")
        want = max(_WINDOW, len(self.text) - self.pos)
        chunk = os.read(self.fd, min(want, self.limit + 1 - self.size))
        self.size += len(chunk)
        if self.size > self.limit:
            raise OverflowError("grew over the size limit while read")
        self.eof = not chunk
        self.text = self.text[self.pos :] + self.decoder.decode(chunk, final=self.eof)
        self.pos = 0

    def skip_ws(self) -> str:
        """The next character that is not white space ("" at the end of the data)."""
        while True:
            text, pos, n = self.text, self.pos, len(self.text)
            while pos < n and text[pos] in _WS:
                pos += 1
            self.pos = pos
            if pos < n:
                return text[pos]
            if self.eof:
                return ""
            self.fill()

    def expect(self, char: str) -> None:
        if self.skip_ws() != char:
            raise ValueError(f"expected {char!r} at byte {self.size}")
        self.pos += 1

    def value(self) -> Any:
        """The JSON value starting at ``pos`` (after white space)."""
        self.skip_ws()
        while True:
            try:
                obj, end = _SCAN(self.text, self.pos)
            except (StopIteration, json.JSONDecodeError):
                if self.eof:
                    raise ValueError(f"invalid JSON value near byte {self.size}") from None
                self.fill()
                continue
            if end == len(self.text) and not self.eof:
                self.fill()  # a number or literal may go on in the next window
                continue
            self.pos = end
            return obj

    def array(self) -> list[Any]:
        """A JSON array, element by element (``pos`` at its ``[``).

        The loop's fast path scans one element and its separator where both lie
        inside the window (compact JSON, as the store writes it); anything else (white
        space, an element cut by the window's end) goes through ``value``.
        """
        self.expect("[")
        out: list[Any] = []
        append = out.append
        if self.skip_ws() == "]":
            self.pos += 1
            return out
        while True:
            text, pos = self.text, self.pos
            try:
                obj, end = _SCAN(text, pos)
            except (StopIteration, json.JSONDecodeError):
                end = -1
            if 0 <= end < len(text) - 1 or (0 <= end < len(text) and self.eof):
                self.pos = end
            else:
                obj = self.value()
            append(obj)
            pos = self.pos
            char = self.text[pos] if pos < len(self.text) else ""
            if char not in (",", "]"):
                char = self.skip_ws()
            self.pos += 1
            if char == "]":
                return out
            if char != ",":
                raise ValueError(f"expected ',' or ']' near byte {self.size}")


def load_object(fd: int, limit: int) -> Any:
    """The JSON document in ``fd`` (read from its current offset, at most ``limit``
    bytes). A top-level object is built key by key, its lists element by element;
    any other document is parsed whole."""
    reader = _Reader(fd, limit)
    if reader.skip_ws() != "{":  # not a session; parsed whole so the caller can say so
        parts = [reader.text[reader.pos :]]
        while not reader.eof:
            reader.text, reader.pos = "", 0
            reader.fill()
            parts.append(reader.text)
        return json.loads("".join(parts))
    reader.pos += 1
    out: dict[str, Any] = {}
    if reader.skip_ws() == "}":
        reader.pos += 1
    else:
        while True:
            if reader.skip_ws() != '"':
                raise ValueError(f"expected a key near byte {reader.size}")
            key = reader.value()
            reader.expect(":")
            out[key] = reader.array() if reader.skip_ws() == "[" else reader.value()
            char = reader.skip_ws()
            reader.pos += 1
            if char == "}":
                break
            if char != ",":
                raise ValueError(f"expected ',' or '}}' near byte {reader.size}")
    if reader.skip_ws() != "":
        raise ValueError(f"extra data after the object near byte {reader.size}")
    return out
