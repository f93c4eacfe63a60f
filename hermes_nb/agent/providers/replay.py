"""``replay:<path>``: a scripted model, so notebooks and tests give the same output every time.

A script is JSON::

    {"replies": [
        {"text": "Let me look.", "tool_calls": [{"name": "list_files", "arguments": {}}]},
        {"chunks": ["Two ", "files."], "delay": 0.05, "usage": {"input_tokens": 9}},
        {"reasoning": "...", "text": "...", "error": "simulate a provider failure"}
    ],
     "title": "optional reply to title requests",
     "vision": false}

``vision`` true makes the script stand in for a model that accepts images; ``tools``
false, for one that cannot call tools.

A reply's ``chunks`` may also hold ``{"retry": "reason"}`` (a RetryNotice: the
reply so far is dropped) and ``{"reasoning": "..."}``. A recorded hermes_nb
session file (a JSON object with ``messages``) replays its assistant messages.

Which reply answers a request is the number of assistant messages the request
already holds, not a counter: a new provider per cell, a restarted kernel, a
resumed run or an undo all land on the right reply.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hermes_nb.agent.providers.base import (
    Chunk,
    Provider,
    ReasoningDelta,
    RetryNotice,
    TextDelta,
    ToolCallRequest,
    UsageChunk,
)
from hermes_nb.errors import ProviderError
from hermes_nb.store import journal

__all__ = ["ReplayProvider", "load_script"]

_WORDS = re.compile(r"\S+\s*|\s+")


def load_script(path: str | Path) -> dict[str, Any]:
    """Read a replay script or a recorded session as a script; ProviderError says what is wrong."""
    source = Path(path).expanduser()
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
        if isinstance(data, dict) and "messages" in data:  # a recorded session: with its journal
            journal_file = journal.beside(source)
            if journal_file.is_file():
                journal.fold(data, journal.parse(journal_file.read_bytes()))
    except FileNotFoundError as exc:
        raise ProviderError(f"replay script not found: {source}") from exc
    except (OSError, ValueError) as exc:
        raise ProviderError(f"cannot read replay script {source}: {exc}") from exc
    return script_from_data(data, str(source))


def script_from_data(data: Any, where: str = "replay script") -> dict[str, Any]:
    """Normalise a script or a session dict to ``{"replies": [...], ...}``."""
    if isinstance(data, list):
        data = {"replies": data}
    if not isinstance(data, dict):
        raise ProviderError(f"{where}: expected a JSON object with 'replies' or 'messages'")
    if "replies" in data:
        replies = data["replies"]
        if not isinstance(replies, list):
            raise ProviderError(f"{where}: 'replies' must be a list")
        return {**data, "replies": [_reply(r, where, i) for i, r in enumerate(replies)]}
    if "messages" in data:
        replies = [
            {"text": m.get("content") or "", "tool_calls": _session_calls(m)}
            for m in data["messages"]
            if isinstance(m, dict) and m.get("role") == "assistant"
        ]
        return {"replies": replies, "title": data.get("title")}
    raise ProviderError(f"{where}: expected a JSON object with 'replies' or 'messages'")


def _reply(raw: Any, where: str, index: int) -> dict[str, Any]:
    if isinstance(raw, str):
        return {"text": raw}
    if not isinstance(raw, dict):
        raise ProviderError(f"{where}: reply {index + 1} must be an object or a string")
    return raw


def _session_calls(message: dict[str, Any]) -> list[dict[str, Any]]:
    calls = []
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        calls.append(
            {"id": call.get("id"), "name": function.get("name", ""), "arguments": function.get("arguments", "{}")}
        )
    return calls


class ReplayProvider(Provider):
    """Plays back a script; records every request in ``requests`` (messages) and ``tools``."""

    supports_tools = True
    generates_titles = False

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        script: dict[str, Any] | list[Any] | None = None,
        spec: str | None = None,
    ) -> None:
        if (path is None) == (script is None):
            raise ProviderError("ReplayProvider needs a script path or a script, not both")
        self.path = Path(path) if path is not None else None
        self.script = load_script(path) if path is not None else script_from_data(script)
        self.spec = spec or (f"replay:{path}" if path is not None else "replay:<script>")
        #: a script says ``"vision": true`` to be sent images, like a vision model
        self.accepts_images = bool(self.script.get("vision", False))
        if self.script.get("tools", True) is False:
            self.supports_tools = False  # stands in for a model that cannot call tools
        if self.script.get("title"):
            self.generates_titles = True  # automatic titles are set to the script's
        self.requests: list[list[dict[str, Any]]] = []
        self.tools: list[list[dict[str, Any]]] = []
        self._lock = threading.Lock()

    @property
    def replies(self) -> list[dict[str, Any]]:
        return list(self.script["replies"])

    def stream(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        cancel: threading.Event,
    ) -> Iterator[Chunk]:
        with self._lock:
            self.requests.append(copy.deepcopy(messages))
            self.tools.append(copy.deepcopy(tools))
        index = sum(1 for m in messages if m.get("role") == "assistant")
        replies = self.script["replies"]
        if index >= len(replies):
            raise ProviderError(
                f"{self.spec}: the script has no reply left for this request "
                f"(it has {len(replies)}; this is reply {index + 1})"
            )
        return self._play(replies[index], index, messages, cancel)

    def _play(
        self,
        reply: dict[str, Any],
        index: int,
        messages: list[dict[str, Any]],
        cancel: threading.Event,
    ) -> Iterator[Chunk]:
        delay = float(reply.get("delay", 0) or 0)
        produced: list[str] = []
        for chunk in _chunks(reply):
            if delay and cancel.wait(delay):
                return
            if cancel.is_set():
                return
            if isinstance(chunk, TextDelta):
                produced.append(chunk.text)
            yield chunk
        if reply.get("error"):
            raise ProviderError(str(reply["error"]))
        for n, call in enumerate(reply.get("tool_calls") or [], start=1):
            if cancel.is_set():
                return
            yield _call(call, f"call_{index + 1}_{n}")
        yield _usage(reply.get("usage"), messages, "".join(produced))

    def complete(self, messages: list[dict[str, Any]], cancel: threading.Event | None = None) -> str:
        """Titles and summaries come from the script's ``title`` (or the first words asked),
        never from its replies, so they do not shift the conversation."""
        if self.script.get("title"):
            return str(self.script["title"])
        users = [m.get("content") for m in messages if m.get("role") == "user"]
        words = str(users[-1] if users else "").split()
        return " ".join(words[:6])


def _chunks(reply: dict[str, Any]) -> Iterator[Chunk]:
    if reply.get("reasoning"):
        yield ReasoningDelta(str(reply["reasoning"]))
    if "chunks" in reply:
        for item in reply["chunks"]:
            if isinstance(item, str):
                yield TextDelta(item)
            elif isinstance(item, dict) and "retry" in item:
                yield RetryNotice(int(item.get("attempt", 1)), float(item.get("wait", 0)), str(item["retry"]))
            elif isinstance(item, dict) and "reasoning" in item:
                yield ReasoningDelta(str(item["reasoning"]))
    elif reply.get("text"):
        for word in _WORDS.findall(str(reply["text"])):
            yield TextDelta(word)


def _call(call: dict[str, Any], default_id: str) -> ToolCallRequest:
    arguments = call.get("arguments", {})
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments, ensure_ascii=False)
    return ToolCallRequest(str(call.get("id") or default_id), str(call.get("name", "")), arguments)


def _usage(usage: Any, messages: list[dict[str, Any]], text: str) -> UsageChunk:
    """The script's usage, or a rough count (4 characters a token) so status lines move."""
    usage = usage if isinstance(usage, dict) else {}
    sent = sum(_chars(m.get("content")) for m in messages)
    return UsageChunk(
        int(usage.get("input_tokens", max(1, sent // 4))),
        int(usage.get("output_tokens", max(1, len(text) // 4) if text else 0)),
        usage.get("cost"),
    )


def _chars(content: Any) -> int:
    """Characters of a message's text; an image counts as a fixed 340 (about 85 tokens),
    so counts do not depend on how a figure happened to be encoded."""
    if isinstance(content, list):
        return sum(
            340 if isinstance(p, dict) and p.get("type") == "image_url" else len(str(p.get("text", "")) if isinstance(p, dict) else "")
            for p in content
        )
    return len(str(content or ""))
