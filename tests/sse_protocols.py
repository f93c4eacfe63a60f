"""Render a protocol-neutral reply script as OpenAI or Anthropic server-sent events.

A reply is a dict (JSON-friendly, so scripts can live in files):

    {"steps": [...]}                               a 200 streaming reply
    {"status": 429, "error": "slow down", "headers": {"Retry-After": "1"}}
    {"stall_before_headers": 30}                   accept the request, never answer
    {"body": "data: ...\n\n"}                     (OpenAI) a recorded streaming body, sent as it is

Steps of a streaming reply, in order:

    {"text": "Hel"}                                one text delta
    {"reasoning": "thinking..."}                   one reasoning delta
    {"tool_call": {"index": 0, "id": "call_1", "name": "f", "arguments": "{\\"a\\""}}
                                                   first delta of a call (id + name), later
                                                   deltas carry only index + arguments
    {"tokens": 20000, "word": "tok "}             N text deltas, rendered in one go
    {"usage": {"input": 12, "output": 7}}          token counts (OpenAI: only when the
                                                   request asked for include_usage);
                                                   "cache_read"/"cache_write": tokens read
                                                   from / written to the prompt cache, not
                                                   part of "input" (as Anthropic counts)
    {"finish": "stop" | "tool_calls" | "length"}   the stop reason
    {"malformed": true}                            an event whose data is not JSON
    {"raw": "data: {not json\\n\\n"}               bytes written as they are
    {"sleep": 0.1}                                 pause
    {"stall": 30}                                  pause until the client goes away, the
                                                   server stops or the time passes
    {"drop": true}                                 cut the connection mid-body
    {"keepalive": 30, "every": 0.1}                an SSE comment every 0.1 s for 30 s
    {"empty_deltas": 30, "every": 0.1}             (OpenAI) a chunk with an empty text
                                                   delta every 0.1 s for 30 s

The renderers turn steps into *segments*: ("bytes", b"...") runs merged together, and
("sleep" | "stall" | "drop", value) actions the HTTP handler performs.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["Segment", "render_anthropic", "render_error", "render_openai"]

Segment = tuple[str, Any]

_STOP_ANTHROPIC = {"stop": "end_turn", "tool_calls": "tool_use", "length": "max_tokens"}


def _merge(segments: list[Segment]) -> list[Segment]:
    """Join neighbouring byte segments so a long stream is written in a few big writes."""
    out: list[Segment] = []
    parts: list[bytes] = []
    for kind, value in segments:
        if kind == "bytes":
            parts.append(value)
            continue
        if parts:
            out.append(("bytes", b"".join(parts)))
            parts = []
        out.append((kind, value))
    if parts:
        out.append(("bytes", b"".join(parts)))
    return out


def _action(step: dict[str, Any]) -> Segment | None:
    for kind in ("sleep", "stall", "drop"):
        if kind in step:
            return (kind, step[kind])
    if "keepalive" in step:
        return ("repeat", (b": keep-alive\n\n", float(step.get("every", 0.1)), float(step["keepalive"])))
    if "raw" in step:
        return ("bytes", step["raw"].encode())
    if "malformed" in step:  # a named event, so SDKs that skip unnamed ones still parse it
        return ("bytes", b"event: content_block_delta\ndata: {this is not json\n\n")
    return None


def render_openai(reply: dict[str, Any], model: str, include_usage: bool) -> list[Segment]:
    """Chat-completions chunks: ``data: {...}`` lines, usage last, then ``data: [DONE]``."""
    if "body" in reply:
        return [("bytes", reply["body"].encode())]
    head = {"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": 1700000000, "model": model}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return b"data: " + json.dumps({**head, "choices": [choice]}).encode() + b"\n\n"

    segments: list[Segment] = [("bytes", chunk({"role": "assistant", "content": ""}))]
    usage: dict[str, int] | None = None
    for step in reply.get("steps", []):
        action = _action(step)
        if action is not None:
            segments.append(action)
        elif "text" in step:
            segments.append(("bytes", chunk({"content": step["text"]})))
        elif "empty_deltas" in step:
            every = float(step.get("every", 0.1))
            segments.append(("repeat", (chunk({"content": ""}), every, float(step["empty_deltas"]))))
        elif "reasoning" in step:
            segments.append(("bytes", chunk({"reasoning_content": step["reasoning"]})))
        elif "tokens" in step:
            word = step.get("word", "tok ")
            one = chunk({"content": word})
            segments.append(("bytes", one * int(step["tokens"])))
        elif "tool_call" in step:
            call = step["tool_call"]
            delta: dict[str, Any] = {"index": call.get("index", 0)}
            if "id" in call:
                delta.update(id=call["id"], type="function")
            function = {"arguments": call.get("arguments", "")}
            if "name" in call:
                function["name"] = call["name"]
            delta["function"] = function
            segments.append(("bytes", chunk({"tool_calls": [delta]})))
        elif "usage" in step:
            usage = step["usage"]
        elif "finish" in step:
            segments.append(("bytes", chunk({}, step["finish"])))
    if usage is not None and include_usage:
        cached = usage.get("cache_read", 0)
        prompt = usage.get("input", 0) + cached  # OpenAI counts cached tokens as prompt tokens
        counts: dict[str, Any] = {
            "prompt_tokens": prompt,
            "completion_tokens": usage.get("output", 0),
            "total_tokens": prompt + usage.get("output", 0),
        }
        if cached:
            counts["prompt_tokens_details"] = {"cached_tokens": cached}
        body = json.dumps({**head, "choices": [], "usage": counts})
        segments.append(("bytes", b"data: " + body.encode() + b"\n\n"))
    segments.append(("bytes", b"data: [DONE]\n\n"))
    return _merge(segments)


def _event(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + json.dumps(data).encode() + b"\n\n"


def render_anthropic(reply: dict[str, Any], model: str) -> list[Segment]:
    """Messages API events: message_start, content blocks, message_delta, message_stop."""
    steps = reply.get("steps", [])
    usage = next((s["usage"] for s in steps if "usage" in s), {"input": 0, "output": 0})
    message = {
        "id": "msg_test", "type": "message", "role": "assistant", "model": model,
        "content": [], "stop_reason": None, "stop_sequence": None,
        "usage": {
            "input_tokens": usage.get("input", 0),
            "output_tokens": 1,
            "cache_read_input_tokens": usage.get("cache_read", 0),
            "cache_creation_input_tokens": usage.get("cache_write", 0),
        },
    }
    segments: list[Segment] = [("bytes", _event("message_start", {"type": "message_start", "message": message}))]
    state = {"index": -1, "open": ""}

    def block(kind: str, start: dict[str, Any]) -> None:
        """Close the open block and start a new one unless it is already of this kind."""
        if state["open"] == kind and kind != "tool_use":
            return
        close()
        state["index"] = int(state["index"]) + 1
        state["open"] = kind
        body = {"type": "content_block_start", "index": state["index"], "content_block": start}
        segments.append(("bytes", _event("content_block_start", body)))

    def close() -> None:
        if state["open"]:
            body = {"type": "content_block_stop", "index": state["index"]}
            segments.append(("bytes", _event("content_block_stop", body)))
            state["open"] = ""

    def delta(payload: dict[str, Any]) -> bytes:
        body = {"type": "content_block_delta", "index": state["index"], "delta": payload}
        return _event("content_block_delta", body)

    stop = "end_turn"
    for step in steps:
        action = _action(step)
        if action is not None:
            segments.append(action)
        elif "text" in step:
            block("text", {"type": "text", "text": ""})
            segments.append(("bytes", delta({"type": "text_delta", "text": step["text"]})))
        elif "tokens" in step:
            block("text", {"type": "text", "text": ""})
            one = delta({"type": "text_delta", "text": step.get("word", "tok ")})
            segments.append(("bytes", one * int(step["tokens"])))
        elif "reasoning" in step:
            block("thinking", {"type": "thinking", "thinking": "", "signature": ""})
            segments.append(("bytes", delta({"type": "thinking_delta", "thinking": step["reasoning"]})))
        elif "tool_call" in step:
            call = step["tool_call"]
            if "id" in call:
                block("tool_use", {"type": "tool_use", "id": call["id"], "name": call.get("name", ""), "input": {}})
            partial = {"type": "input_json_delta", "partial_json": call.get("arguments", "")}
            segments.append(("bytes", delta(partial)))
        elif "finish" in step:
            stop = _STOP_ANTHROPIC.get(step["finish"], step["finish"])
    close()
    end = {
        "type": "message_delta",
        "delta": {"stop_reason": stop, "stop_sequence": None},
        "usage": {"output_tokens": usage.get("output", 0)},
    }
    segments.append(("bytes", _event("message_delta", end)))
    segments.append(("bytes", _event("message_stop", {"type": "message_stop"})))
    return _merge(segments)


def render_error(reply: dict[str, Any], protocol: str) -> bytes:
    """The JSON body of an error reply, shaped like the real API's."""
    message = reply.get("error") or f"HTTP {reply['status']}"
    if protocol == "anthropic":
        kinds = {401: "authentication_error", 404: "not_found_error", 429: "rate_limit_error", 529: "overloaded_error"}
        kind = kinds.get(reply["status"], "api_error")
        return json.dumps({"type": "error", "error": {"type": kind, "message": message}}).encode()
    return json.dumps({"error": {"message": message, "type": "test_error", "code": reply.get("code")}}).encode()
