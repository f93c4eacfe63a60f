"""OpenAI-style messages and tools in Anthropic's Messages API shape.

Anthropic keeps the system prompt apart, carries tool calls as ``tool_use`` blocks in
assistant messages and their results as ``tool_result`` blocks in *user* messages,
rejects empty text blocks, and wants roles to alternate starting with a user. The
session stores OpenAI-style messages, so the conversion happens here, on every request.
"""

from __future__ import annotations

import json
from typing import Any

from hermes_nb.safety.depth import loads_bounded

__all__ = ["cache_breakpoints", "to_anthropic", "to_anthropic_tools"]

#: stands in for a missing first user message (the API requires one)
CONTINUE = "(continuing the conversation)"


def to_anthropic(messages: list[dict[str, Any]], tool_blocks: bool = True) -> tuple[str, list[dict[str, Any]]]:
    """``(system, messages)`` for ``client.messages.create``.

    The API refuses ``tool_use``/``tool_result`` blocks in a request without tool
    definitions (a title request, a model run as plain chat): with ``tool_blocks``
    False, earlier tool calls and results become short text notes instead.
    """
    system: list[str] = []
    out: list[dict[str, Any]] = []
    for message in messages:
        role = message.get("role")
        if role == "system":
            if message.get("content"):
                system.append(_text(message["content"]))
            continue
        if role == "assistant":
            blocks = _assistant_blocks(message)
            target = "assistant"
        elif role == "tool":
            blocks = [_tool_result(message)]
            target = "user"
        elif role == "user":
            blocks = _user_blocks(message.get("content"))
            target = "user"
        else:  # markers and anything else never reach a model
            continue
        if not tool_blocks:
            blocks = [_as_text(block) for block in blocks]
        if not blocks:
            continue
        if out and out[-1]["role"] == target:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": target, "content": blocks})
    if out and out[0]["role"] != "user":
        out.insert(0, {"role": "user", "content": [{"type": "text", "text": CONTINUE}]})
    for message in out:  # tool results must open the user message that carries them
        message["content"].sort(key=lambda block: block.get("type") != "tool_result")
    return "\n\n".join(system), out


#: marks the end of a prefix the API should cache (5 minutes, renewed on each read)
EPHEMERAL = {"type": "ephemeral"}


def cache_breakpoints(
    system: str, messages: list[dict[str, Any]], tools: list[dict[str, Any]]
) -> tuple[str | list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """``(system, messages, tools)`` with prompt-cache breakpoints, so each step of a
    turn pays full price only for what it added.

    The API caches the prefix up to each marked block (tools, then system, then
    messages). Three marks, of the four allowed: the end of the system prompt (or the
    last tool without one), the end of the previous request (the user message before
    the newest assistant message: its prefix was written last time and is read now),
    and the end of this request (written now, read by the next step). ``messages``
    and ``tools`` are fresh from the converters; the marked blocks are copied anyway.
    """
    marked_system: str | list[dict[str, Any]] = system
    if system:
        marked_system = [{"type": "text", "text": system, "cache_control": EPHEMERAL}]
    elif tools:
        tools = [*tools[:-1], {**tools[-1], "cache_control": EPHEMERAL}]
    users = [i for i, m in enumerate(messages) if m["role"] == "user" and m["content"]]
    for index in users[-2:]:
        message = messages[index]
        blocks = list(message["content"])
        blocks[-1] = {**blocks[-1], "cache_control": EPHEMERAL}
        messages[index] = {**message, "content": blocks}
    return marked_system, messages, tools


def to_anthropic_tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """OpenAI function schemas as Anthropic tool definitions."""
    converted = []
    for tool in tools:
        function = tool.get("function", tool)
        converted.append(
            {
                "name": function["name"],
                "description": function.get("description") or "",
                "input_schema": function.get("parameters") or {"type": "object", "properties": {}},
            }
        )
    return converted


def _as_text(block: dict[str, Any]) -> dict[str, Any]:
    if block["type"] == "tool_use":
        return {"type": "text", "text": f"(called {block['name']} with {json.dumps(block['input'])})"}
    if block["type"] == "tool_result":
        return {"type": "text", "text": f"(tool result) {block['content']}"}
    return block


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return "" if content is None else str(content)


def _assistant_blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    text = _text(message.get("content"))
    if text.strip():
        blocks.append({"type": "text", "text": text})
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        blocks.append(
            {
                "type": "tool_use",
                "id": call.get("id") or "",
                "name": function.get("name") or "",
                "input": _arguments(function.get("arguments")),
            }
        )
    return blocks


def _arguments(raw: Any) -> dict[str, Any]:
    """Tool input must be an object; arguments a model once garbled, or nested too deep
    to read (refused when they came), become ``{}``: the session stays sendable."""
    if isinstance(raw, dict):
        return raw
    try:
        value = loads_bounded(raw or "{}")
    except (TypeError, ValueError):  # TooDeepError is a ValueError
        return {}
    return value if isinstance(value, dict) else {}


def _tool_result(message: dict[str, Any]) -> dict[str, Any]:
    text = _text(message.get("content")) or "(no output)"
    return {"type": "tool_result", "tool_use_id": message.get("tool_call_id") or "", "content": text}


def _user_blocks(content: Any) -> list[dict[str, Any]]:
    if not isinstance(content, list):
        text = _text(content)
        return [{"type": "text", "text": text}] if text.strip() else []
    blocks: list[dict[str, Any]] = []
    for part in content:
        if not isinstance(part, dict):
            continue
        if part.get("type") == "text" and str(part.get("text", "")).strip():
            blocks.append({"type": "text", "text": part["text"]})
        elif part.get("type") == "image_url":
            image = _image(part.get("image_url"))
            if image:
                blocks.append(image)
    return blocks


def _image(spec: Any) -> dict[str, Any] | None:
    """An OpenAI ``image_url`` part (data: URL or web URL) as an Anthropic image block."""
    url = spec.get("url") if isinstance(spec, dict) else spec
    if not isinstance(url, str):
        return None
    if url.startswith("data:") and ";base64," in url:
        media, data = url[5:].split(";base64,", 1)
        return {"type": "image", "source": {"type": "base64", "media_type": media, "data": data}}
    return {"type": "image", "source": {"type": "url", "url": url}}
