"""JSON request bodies that re-encode only what changed since the last request.

A turn with tool calls sends the same history many times: every step adds a few
messages at the end. Handing the whole list to an SDK each time makes it validate
and transform every message again (for 10,000 messages about 2 s per request in the
``openai`` SDK, against ~20 ms to JSON-encode it). The encoder below keeps the
encoded bytes of the last request's messages and reuses them for the longest prefix
of *the same message objects* (compared by identity, which the agent loop
guarantees: it builds the settled history once per turn and never mutates it).

It holds strong references to the messages it encoded, so an ``id`` can never be
reused by a new object while its bytes are cached.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from hermes_nb.fsio import json_bytes

__all__ = ["BodyEncoder"]


class BodyEncoder:
    """Encode ``{..., "messages": [...]}`` bodies, reusing the unchanged prefix."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._messages: list[Any] = []
        self._parts: list[bytes] = []
        #: ``b",".join(self._parts)``, kept so the common case is one concatenation
        self._joined = b""

    def encode(self, params: dict[str, Any], messages: Sequence[dict[str, Any]]) -> bytes:
        """The JSON body of ``params`` with ``messages`` as its ``"messages"`` list."""
        head = json_bytes({k: v for k, v in params.items() if k != "messages"})
        listing = self._messages_json(messages)
        if head == b"{}":
            return b'{"messages":' + listing + b"}"
        return head[:-1] + b',"messages":' + listing + b"}"

    def _messages_json(self, messages: Sequence[dict[str, Any]]) -> bytes:
        with self._lock:
            cached = self._messages
            same = 0
            limit = min(len(cached), len(messages))
            while same < limit and messages[same] is cached[same]:
                same += 1
            new_parts = [json_bytes(m) for m in messages[same:]]
            if same == len(cached):
                joined = self._joined
            else:
                joined = b",".join(self._parts[:same])
            if new_parts:
                tail = b",".join(new_parts)
                joined = joined + b"," + tail if joined else tail
            self._parts = self._parts[:same] + new_parts
            self._messages = list(messages)
            self._joined = joined
            return b"[" + joined + b"]"
