"""Tool calls that a model writes as text instead of in the API's tool-call field.

Small local models often answer a request with tools by *writing* the call: inside
``<tool_call>...</tool_call>`` tags (the Qwen2.5 / Hermes form their chat templates
teach) or as a fenced JSON block, ``{"name": ..., "arguments": {...}}``. A server
that does not parse them hands them over as plain text, so no tool would ever run.

``CallReader`` watches a reply's text as it streams. A block in one of these forms
is held back from the answer while it is open; once closed, it is a call only if it
names a tool that exists and its arguments match that tool's schema (anything else
is shown as the text it is). The loop runs such calls only when the reply used no
native tool call, through the same approval path as any other call.

Text after a chat-template end-of-turn marker (``<|im_end|>``...) is a turn the
model made up for the user: shown as it is, never read for calls. A block whose JSON
appears in a tool result the model was sent is a quote (a file or page with a call
in it), not a call; and a model that has once used the native field is never read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hermes_nb.agent.providers.base import ToolCallRequest
from hermes_nb.agent.tools.registry import ToolRegistry
from hermes_nb.agent.tools.schema import schema_problem

__all__ = ["CallReader", "TEXT_CALLS_NOTICE", "parse_call"]

TEXT_CALLS_NOTICE = (
    "This model writes its tool calls as text; they are read from its reply and run "
    "like any other call."
)

_OPEN_TAG = "<tool_call>"
_CLOSE_TAG = "</tool_call>"
_FENCE = "```"
#: a fenced block in one of these languages may hold a call; others stream as they come
_CALL_FENCES = {"", "json", "json5", "tool_call", "tool_code", "tool"}
#: end-of-turn markers of common chat templates (ChatML, Gemma, Llama 3, Mistral)
_END_MARKERS = ("<|im_end|>", "<|im_start|>", "<end_of_turn>", "<start_of_turn>", "<|eot_id|>", "</s>")
_STARTS = (_OPEN_TAG, _FENCE, *_END_MARKERS)
_START = re.compile("|".join(re.escape(marker) for marker in _STARTS))
_LONGEST = max(map(len, _STARTS))
#: every proper beginning of a marker, to hold back a marker split across two deltas
_PREFIXES = {marker[:size] for marker in _STARTS for size in range(1, len(marker))}
_DECODER = json.JSONDecoder()


def parse_call(text: str, tools: ToolRegistry) -> tuple[str, dict[str, Any]] | None:
    """``(name, arguments)`` when ``text`` is one JSON object naming an existing tool
    with arguments that match its schema; None otherwise."""
    text = text.strip()
    if not text.startswith("{"):
        return None
    try:
        value, end = _DECODER.raw_decode(text)
    except ValueError:
        return None
    if text[end:].strip(" \t\r\n,") or not isinstance(value, dict):  # a stray comma is forgiven
        return None
    for wrapper in ("function", "tool_call"):  # {"function": {"name": ..., ...}}
        if isinstance(value.get(wrapper), dict) and "name" not in value:
            value = value[wrapper]
    name = value.get("name")
    arguments = value.get("arguments", value.get("parameters", {}))
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments or "{}")
        except ValueError:
            return None
    if not isinstance(name, str) or not isinstance(arguments, dict):
        return None
    tool = tools.get(name)
    if tool is None or schema_problem(tool.parameters, arguments) is not None:
        return None
    return name, arguments


@dataclass
class CallReader:
    """Splits a streamed reply into the text to show and the calls written in it.

    ``feed`` returns the part of the text that can be shown now; ``finish`` decides
    what was still held at the end of the reply.
    """

    tools: ToolRegistry
    #: True for a block's JSON that came from outside (a tool result the model was
    #: sent): quoting a call is not making one
    quoted: Callable[[str], bool] = lambda body: False
    #: the calls found so far, in order (identical repeats kept once)
    calls: list[ToolCallRequest] = field(default_factory=list)
    #: the text of the blocks read as calls (shown after all if they are not run)
    hidden: list[str] = field(default_factory=list)
    _text: str = ""
    _pos: int = 0
    _block: str = ""  # "", "tag", "fence", "bare", "other-fence", "after-end"
    _start: int = 0
    _shown_any: bool = False

    def feed(self, text: str) -> str:
        if not self._text and not self._block and self._shown_any and "<" not in text and "`" not in text:
            return text  # the common case: nothing held, nothing that could open a block
        self._text += text
        return self._advance(final=False)

    def finish(self) -> str:
        """The rest of the text to show, once the reply has ended."""
        return self._advance(final=True)

    # -- the scanner: ``_text`` holds only what is not decided yet

    def _advance(self, final: bool) -> str:
        out: list[str] = []
        while True:
            if self._block == "after-end":
                out.append(self._text[self._pos :])
                self._pos = len(self._text)
                break
            if not self._block:
                if not self._find_start(out, final):
                    break
            elif not self._close_block(out, final):
                break
        self._text = self._text[self._pos :]  # keeps each step's work to what is new
        self._start -= self._pos
        self._pos = 0
        shown = "".join(out)
        if shown.strip():
            self._shown_any = True
        return shown

    def _find_start(self, out: list[str], final: bool) -> bool:
        """Show text up to the next possible block; True when one was entered."""
        text, pos = self._text, self._pos
        if not self._shown_any:
            rest = text[pos:].lstrip()
            if rest.startswith("{"):  # a reply that is only a JSON object
                self._enter("bare", pos)
                return True
            if not rest:
                if final:
                    out.append(text[pos:])
                    self._pos = len(text)
                return False
        match = _START.search(text, pos)
        if match is None:
            keep = 0 if final else _partial_tail(text, pos)
            out.append(text[pos : len(text) - keep])
            self._pos = len(text) - keep
            return False
        index, marker = match.start(), match.group()
        out.append(text[pos:index])
        if marker in _END_MARKERS:
            self._pos = index
            self._block = "after-end"
        else:
            self._enter("tag" if marker == _OPEN_TAG else "fence", index)
        return True

    def _enter(self, kind: str, index: int) -> None:
        self._block, self._start, self._pos = kind, index, index

    def _close_block(self, out: list[str], final: bool) -> bool:
        """Decide the open block if it has ended; True when it has."""
        text, start = self._text, self._start
        if self._block == "other-fence":  # code to show as it streams, up to its closing fence
            close = text.find(_FENCE, self._pos)
            end = close + len(_FENCE) if close >= 0 else len(text)
            if close < 0 and not final:
                end -= _partial_tail(text, self._pos, (_FENCE,))
            out.append(text[self._pos : end])
            self._pos = end
            return self._reset() if close >= 0 or final else False
        if self._block == "fence":
            newline = text.find("\n", start + len(_FENCE))
            if newline < 0:
                return self._unfinished(out, final, body_from=len(text))
            if text[start + len(_FENCE) : newline].strip().lower() not in _CALL_FENCES:
                out.append(text[start : newline + 1])
                self._pos = newline + 1
                self._block = "other-fence"
                return True
            close = text.find(_FENCE, newline)
            if close < 0:
                return self._unfinished(out, final, body_from=newline)
            return self._decide(out, text[newline:close], close + len(_FENCE))
        if self._block == "tag":
            body_from = start + len(_OPEN_TAG)
            ends = [(i, len(s)) for s in (_CLOSE_TAG, _OPEN_TAG, *_END_MARKERS) if (i := text.find(s, body_from)) >= 0]
            if not ends:
                return self._unfinished(out, final, body_from=body_from)
            index, size = min(ends)
            closing = text.startswith(_CLOSE_TAG, index)
            return self._decide(out, text[body_from:index], index + size if closing else index)
        # "bare": the whole reply is the object
        return self._unfinished(out, final, body_from=start)

    def _unfinished(self, out: list[str], final: bool, body_from: int) -> bool:
        """A block still open: hold it, or at the end decide on what there is."""
        if not final:
            return False
        text = self._text
        cut = min([i for s in _END_MARKERS if (i := text.find(s, body_from)) >= 0], default=len(text))
        return self._decide(out, text[body_from:cut], cut)

    def _decide(self, out: list[str], body: str, end: int) -> bool:
        block = self._text[self._start : end]
        call = parse_call(body, self.tools)
        if call is not None and self.quoted(body.strip()):
            call = None
        if call is None:
            out.append(block)
        else:
            name, arguments = call
            raw = json.dumps(arguments, ensure_ascii=False)
            if all((c.name, c.arguments) != (name, raw) for c in self.calls):
                self.calls.append(ToolCallRequest(call_id="", name=name, arguments=raw))
            self.hidden.append(block)
        self._pos = end
        return self._reset()

    def _reset(self) -> bool:
        self._block = ""
        return True


def _partial_tail(text: str, pos: int, starts: tuple[str, ...] = _STARTS) -> int:
    """How many characters at the end of ``text`` could begin a block marker."""
    tail = text[max(pos, len(text) - _LONGEST) :]
    if "<" not in tail and "`" not in tail:  # every marker starts with one of them
        return 0
    prefixes = _PREFIXES if starts is _STARTS else {m[:k] for m in starts for k in range(1, len(m))}
    for index, char in enumerate(tail):
        if char in "<`" and tail[index:] in prefixes:
            return len(tail) - index
    return 0
