"""Turn stored session messages into what a chat API accepts.

Sessions keep hermes_nb's own keys and user-only markers, and a crash or a cancel
can leave a tool call without its result; every provider rejects such a history.
This is the one place that cleans it, so every request is valid whatever happened
before.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from hermes_nb.agent.images import MAX_IMAGES_PER_REQUEST, describe_refs
from hermes_nb.context.variables import render_context

__all__ = ["MISSING_RESULT", "CleanCache", "ImageLoader", "drop_failed_requests", "to_provider_messages"]

log = logging.getLogger("hermes_nb.agent.history")

MISSING_RESULT = "Cancelled: this tool call was stopped before it finished."
"""The result given to a tool call that has none in the history."""

_KEYS: dict[str, tuple[str, ...]] = {
    "system": ("role", "content", "name"),
    "user": ("role", "content", "name"),
    "assistant": ("role", "content", "name", "tool_calls"),
    "tool": ("role", "tool_call_id", "content"),
}


#: turns an image reference of a tool message into a data URL (None: file missing)
ImageLoader = Callable[[dict[str, Any]], "str | None"]


#: id of a message -> its cleaned copy (the last user message is never kept: its
#: namespace summary goes away when it is no longer the last)
_Entries = dict[int, dict[str, Any]]


class CleanCache:
    """The cleaned copies one history was given, by message identity, for the next.

    A turn of a long session starts by cleaning its whole history; the next turn's
    history is the same message objects plus the turn. Handing back the same cleaned
    objects saves cleaning them again and lets the request body's encoder reuse their
    bytes (``BodyEncoder`` compares by identity): 100,000 messages are then cleaned
    and encoded once per session, not once per turn. An entry holds its message, so
    no other object can take its id; it is used only for the same message in the
    same place. Cleaned copies are never changed after they are made (the loop and
    the providers only read them).
    """

    def __init__(self) -> None:
        #: the cleaned copies, and the messages they were made of: held (and read
        #: together) so that no other object can take their ids
        self._state: tuple[_Entries, list[dict[str, Any]]] = ({}, [])
        self._system: dict[str, Any] | None = None

    def system(self, prompt: str) -> dict[str, Any]:
        held = self._system
        if held is None or held["content"] != prompt:
            held = self._system = {"role": "system", "content": prompt}
        return held


def to_provider_messages(
    messages: Iterable[dict[str, Any]],
    system_prompt: str | None = None,
    *,
    images: ImageLoader | None = None,
    cache: CleanCache | None = None,
) -> list[dict[str, Any]]:
    """Clean copies of ``messages`` for a provider, with ``system_prompt`` first.

    A user message's ``context`` (``@name`` variables, the namespace summary) is
    appended to its text; the namespace summary only for the last user message.
    Images of tool results (references in a tool message's ``images``) follow the
    results as ``image_url`` parts of one user message when ``images`` loads them
    (a model that accepts images; only the newest few are sent); otherwise each
    tool result says in one line what the user saw and that it was not sent.
    Markers and unknown roles are dropped, keys other than the OpenAI ones are
    removed, and every assistant tool call gets exactly one result right after its
    message: a missing one gets MISSING_RESULT, a duplicate or orphan result is
    dropped. Nothing else is merged or reordered. The input is not modified.

    ``cache`` (only without ``images``) hands back the cleaned copies of messages it
    saw in the previous call, and keeps this call's.
    """
    out: list[dict[str, Any]] = []
    if images is not None:
        cache = None
    seen, held = cache._state if cache is not None else ({}, [])
    kept: _Entries | None = {} if cache is not None else None
    if system_prompt:
        out.append(cache.system(system_prompt) if cache is not None else {"role": "system", "content": system_prompt})
    messages = list(messages)
    last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=-1)
    pictures = _Images(messages, images)
    expected: list[str] = []  # call ids of the last assistant message still unanswered
    for position, message in enumerate(messages):
        role = message.get("role")
        if role == "tool":
            call_id = message.get("tool_call_id")
            if call_id in expected:
                expected.remove(call_id)
                # no images are sent with a cache: a result's note depends on it alone
                result = _reused(message, False, seen, kept)
                if result is None:
                    result = _keep(message, False, kept, pictures.tool_result(_clean(message), message, position))
                out.append(result)
            else:
                log.debug("dropping tool result without a matching call: %r", call_id)
            continue
        if role not in _KEYS:
            continue  # markers are for the user only; unknown roles no API accepts
        if expected:
            _answer_missing(out, expected)
        if pictures.pending:
            pictures.flush(out)
        last = position == last_user
        cleaned = _reused(message, last, seen, kept)
        if cleaned is None:
            cleaned = _keep(message, last, kept, _clean_with_context(message, last))
        if role == "assistant":
            expected = [c["id"] for c in cleaned.get("tool_calls", [])]
        out.append(cleaned)
    _answer_missing(out, expected)
    pictures.flush(out)
    if cache is not None and kept is not None:
        cache._state = (kept, messages)
    del held  # the previous call's messages: alive until now, while their ids were looked up
    return out


def _reused(message: dict[str, Any], last: bool, seen: _Entries, kept: _Entries | None) -> dict[str, Any] | None:
    """The cleaned copy the previous call made of this very message, if any."""
    if kept is None or last:
        return None
    hit = seen.get(id(message))  # its message is held by the cache: the id is its own
    if hit is not None:
        kept[id(message)] = hit
    return hit


def _keep(message: dict[str, Any], last: bool, kept: _Entries | None, cleaned: dict[str, Any]) -> dict[str, Any]:
    if kept is not None and not last:
        kept[id(message)] = cleaned
    return cleaned


def _clean_with_context(message: dict[str, Any], last: bool) -> dict[str, Any]:
    cleaned = _clean(message)
    if message["role"] == "user" and message.get("context"):
        # the namespace summary is only worth sending with the newest request
        cleaned["content"] = _with_context(cleaned["content"], message["context"], last)
    return cleaned


class _Images:
    """Tool images for one request: which are sent, the notes, the user message carrying them."""

    def __init__(self, messages: list[dict[str, Any]], loader: ImageLoader | None) -> None:
        self.loader = loader
        self.pending: list[dict[str, Any]] = []
        newest: list[tuple[int, int]] = []
        # which images are the newest few only matters to a model that is sent them
        for position in range(len(messages) - 1 if loader is not None else -1, -1, -1):
            refs = _refs(messages[position])
            for n in range(len(refs) - 1, -1, -1):
                if len(newest) < MAX_IMAGES_PER_REQUEST and refs[n].get("path"):
                    newest.append((position, n))
        self.sent = set(newest)

    def tool_result(self, cleaned: dict[str, Any], message: dict[str, Any], position: int) -> dict[str, Any]:
        refs = _refs(message)
        if not refs:
            return cleaned
        attached: list[dict[str, Any]] = []
        if self.loader is not None:
            for n, ref in enumerate(refs):
                url = self.loader(ref) if (position, n) in self.sent else None
                if url is not None:
                    attached.append({"type": "image_url", "image_url": {"url": url}})
        note = _image_note(refs, len(attached), self.loader is not None)
        if attached:
            label = f"Image{'s' if len(attached) > 1 else ''} from tool call {cleaned['tool_call_id']}:"
            self.pending += [{"type": "text", "text": label}, *attached]
        content = cleaned.get("content")
        if isinstance(content, list):
            cleaned["content"] = [*content, {"type": "text", "text": note}]
        else:
            cleaned["content"] = f"{content}\n{note}" if content else note
        return cleaned

    def flush(self, out: list[dict[str, Any]]) -> None:
        """After a group of tool results: one user message with their images."""
        if self.pending:
            out.append({"role": "user", "content": self.pending})
            self.pending = []


def _refs(message: dict[str, Any]) -> list[dict[str, Any]]:
    refs = message.get("images") if message.get("role") == "tool" else None
    return [r for r in refs if isinstance(r, dict)] if isinstance(refs, list) else []


def _image_note(refs: list[dict[str, Any]], attached: int, vision: bool) -> str:
    shown = describe_refs(refs)
    if attached == len(refs):
        return f"[{shown} attached in the next message]"
    if not vision:
        return f"[{shown} shown to the user; not sent, this model does not accept images]"
    if attached:
        return f"[{shown} shown to the user; {attached} attached in the next message, the others were sent earlier or could not be]"
    return f"[{shown} shown to the user; not attached here (sent earlier, too large or missing)]"


def _with_context(content: Any, blocks: Any, with_namespace: bool) -> Any:
    """The user's words followed by the kernel context captured when they were sent."""
    extra = render_context(blocks if isinstance(blocks, list) else [], with_namespace=with_namespace)
    if not extra:
        return content
    if isinstance(content, list):
        return [*content, {"type": "text", "text": extra}]
    return f"{content}\n\n{extra}" if content else extra


def _answer_missing(out: list[dict[str, Any]], expected: list[str]) -> None:
    for call_id in expected:
        out.append({"role": "tool", "tool_call_id": call_id, "content": MISSING_RESULT})
    expected.clear()


def _clean(message: dict[str, Any]) -> dict[str, Any]:
    role = message["role"]
    cleaned = {k: message[k] for k in _KEYS[role] if k in message}
    if role == "assistant":
        unique: dict[str, dict[str, Any]] = {}
        for raw in message.get("tool_calls") or []:
            call = _clean_call(raw)
            if call is not None and call["id"] not in unique:
                unique[call["id"]] = call
        if unique:
            cleaned["tool_calls"] = list(unique.values())
        else:
            cleaned.pop("tool_calls", None)
            if cleaned.get("content") is None:
                cleaned["content"] = ""
    elif role == "tool":
        cleaned["content"] = _text(cleaned.get("content"))
    elif "content" not in cleaned or cleaned["content"] is None:
        cleaned["content"] = ""
    return cleaned


def _clean_call(call: Any) -> dict[str, Any] | None:
    """A tool call in the exact OpenAI shape (arguments as a JSON string)."""
    if not isinstance(call, dict) or not call.get("id"):
        return None
    function = call.get("function") or {}
    arguments = function.get("arguments", "{}")
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments, ensure_ascii=False)
    return {
        "id": str(call["id"]),
        "type": "function",
        "function": {"name": str(function.get("name", "")), "arguments": arguments or "{}"},
    }


def _text(content: Any) -> Any:
    """Tool results are text (or OpenAI content parts); anything else is serialised."""
    if content is None:
        return ""
    if isinstance(content, (str, list)):
        return content
    return json.dumps(content, ensure_ascii=False, default=str)


def drop_failed_requests(
    messages: Iterable[dict[str, Any]], *, keep_last: bool = False
) -> list[dict[str, Any]]:
    """``messages`` without the requests that failed before the model answered.

    A request that never reached the model (no key, server down) stays in the
    session so the user sees it, but sending it again with every later request
    would make the model answer it over and over. Such a turn is a user message
    followed only by markers, one of them an ``error``. ``keep_last`` keeps the
    final one: ``%agent resume`` continues it.
    """
    messages = list(messages)
    drop: list[tuple[int, int]] = []
    start = -1  # the current turn's user message
    only_markers = error = False
    for i, m in enumerate(messages):
        role = m.get("role")
        if role == "user":
            if start >= 0 and only_markers and error:
                drop.append((start, i))
            start, only_markers, error = i, True, False
        elif role == "marker":
            error = error or m.get("kind") == "error"
        else:
            only_markers = False
    if start >= 0 and only_markers and error and not keep_last:
        drop.append((start, len(messages)))
    if not drop:  # the common case: one pass, no copy per turn
        return messages
    kept: list[dict[str, Any]] = []
    at = 0
    for begin, end in drop:
        kept += messages[at:begin]
        at = end
    return kept + messages[at:]
