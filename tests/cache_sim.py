"""Usage as a provider with prompt caching would report it, for the scripted server.

The real APIs only say how many input tokens were read from or written to their
cache; which ones depends on what earlier requests sent. This module keeps that
memory for one server and computes the usage of each request from its body:

* Anthropic (explicit ``cache_control`` breakpoints): the prefix up to a breakpoint
  is written to the cache; a later request whose prefix up to one of its breakpoints,
  or up to one of the 20 blocks before it, matches a written prefix reads it. Prefixes
  under 1,024 tokens are not cached. A request without breakpoints caches nothing.
* OpenAI (automatic): the longest prefix shared with an earlier request, in steps of
  128 tokens from 1,024 on, is read from the cache.

Tokens are estimated as a quarter of the characters of each block's canonical JSON.
"""

from __future__ import annotations

import hashlib
import json
import threading
from typing import Any

__all__ = ["CacheSimulator"]

MIN_CACHED = 1024
LOOKBACK = 20
OPENAI_STEP = 128


def _tokens(block: Any) -> int:
    return max(1, len(json.dumps(block, sort_keys=True)) // 4)


def _strip(block: Any) -> Any:
    if isinstance(block, dict):
        return {k: v for k, v in block.items() if k != "cache_control"}
    return block


class CacheSimulator:
    """One server's prompt cache: ``usage(protocol, body)`` for each request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._written: set[str] = set()
        self._openai: list[list[str]] = []

    def usage(self, protocol: str, body: Any) -> dict[str, int]:
        """``{"input", "cache_read", "cache_write"}`` (input: the tokens billed at full price)."""
        blocks, marks = _anthropic_blocks(body) if protocol == "anthropic" else _openai_blocks(body)
        sizes = [_tokens(_strip(b)) for b in blocks]
        keys = _prefix_keys(blocks)
        total = sum(sizes)
        prefix = [0]
        for size in sizes:
            prefix.append(prefix[-1] + size)
        with self._lock:
            if protocol == "anthropic":
                read = 0
                for mark in marks:
                    for position in range(mark, max(-1, mark - LOOKBACK - 1), -1):
                        if keys[position] in self._written:
                            read = max(read, prefix[position + 1])
                            break
                write = 0
                for mark in marks:
                    if prefix[mark + 1] >= MIN_CACHED:
                        self._written.add(keys[mark])
                        write = max(write, prefix[mark + 1] - read)
                return {"input": total - read - write, "cache_read": read, "cache_write": write}
            shared = 0
            for earlier in self._openai:
                same = 0
                while same < min(len(earlier), len(keys)) and earlier[same] == keys[same]:
                    same += 1
                shared = max(shared, prefix[same])
            self._openai.append(keys)
            read = 0 if shared < MIN_CACHED else shared - (shared - MIN_CACHED) % OPENAI_STEP
            return {"input": total - read, "cache_read": read, "cache_write": 0}


def _prefix_keys(blocks: list[Any]) -> list[str]:
    """The hash of the prefix ending at each block (markers left out)."""
    running = hashlib.sha256()
    keys = []
    for block in blocks:
        running.update(json.dumps(_strip(block), sort_keys=True).encode())
        keys.append(running.copy().hexdigest())
    return keys


def _anthropic_blocks(body: Any) -> tuple[list[Any], list[int]]:
    """Blocks in cache order (tools, system, messages) and the indices of the marked ones."""
    blocks: list[Any] = []
    marks: list[int] = []

    def add(block: Any) -> None:
        if isinstance(block, dict) and block.get("cache_control"):
            marks.append(len(blocks))
        blocks.append(block)

    for tool in body.get("tools") or []:
        add(tool)
    system = body.get("system")
    for block in [{"type": "text", "text": system}] if isinstance(system, str) else system or []:
        add(block)
    for message in body.get("messages") or []:
        content = message.get("content")
        parts = [{"type": "text", "text": content}] if isinstance(content, str) else content or []
        for index, part in enumerate(parts):
            add({**part, "role": message["role"]} if index == 0 else part)
    return blocks, marks


def _openai_blocks(body: Any) -> tuple[list[Any], list[int]]:
    blocks: list[Any] = list(body.get("tools") or [])
    blocks += list(body.get("messages") or [])
    return blocks, []
