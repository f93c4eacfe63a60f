"""Deep nesting and half characters in what we render: bounded and replaced, never an error."""

from __future__ import annotations

import json

import pytest

from hermes_nb.agent.toolrun import parse_arguments
from hermes_nb.safety.depth import MAX_DEPTH, TooDeepError, elide, json_depth, loads_bounded
from hermes_nb.safety.safe_output import printable
from hermes_nb.ui.history_text import render_history_plain
from hermes_nb.ui.session_html import session_html
from hermes_nb.ui.transcript import history_markdown, history_mimebundle

DEEP = '{"a":' * 5000 + "1" + "}" * 5000


def _messages(arguments: str, text: str = "ok") -> list[dict]:  # type: ignore[type-arg]
    call = {"id": "c1", "type": "function", "function": {"name": "read_file", "arguments": arguments}}
    return [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": "Error: not run"},
        {"role": "assistant", "content": text},
    ]


def test_depth_is_measured_without_recursion_and_strings_do_not_count() -> None:
    assert json_depth(DEEP) == 5000 and json_depth('{"a": "[[[[{{{{"}') == 1
    assert json_depth('["\\"[[["]') == 1
    with pytest.raises(TooDeepError):
        loads_bounded(DEEP)
    assert loads_bounded('{"a": [1, {"b": 2}]}') == {"a": [1, {"b": 2}]}
    cut = elide(loads_bounded('{"a":' * 60 + "1" + "}" * 60), 3)
    assert cut == {"a": {"a": {"a": "…"}}}


def test_a_call_nested_too_deep_is_an_error_for_the_model_not_an_exception() -> None:
    arguments, problem = parse_arguments('{"path": "x", "more": ' + DEEP + "}")
    assert arguments == {} and problem and f"deeper than {MAX_DEPTH}" in problem


def test_a_session_with_a_deep_call_and_a_lone_surrogate_renders_everywhere() -> None:
    messages = _messages('{"path": "x", "more": ' + DEEP + "}", "half \ud800 a character")
    bundle = history_mimebundle(messages, title="t\udcff")
    json.dumps(bundle).encode("utf-8")  # a frontend message can be encoded
    assert "half \ufffd a character" in bundle["text/plain"]
    assert "read_file" in session_html(messages) and "read_file" in render_history_plain(messages)
    assert "read_file" in history_markdown(messages)
    nested = _messages(json.dumps({"path": "x", "more": json.loads('{"a":' * 100 + "1" + "}" * 100)}))
    assert "…" in session_html(nested) and "…" in history_markdown(nested)


def test_printable_replaces_only_lone_surrogates() -> None:
    assert printable({"k": ("a\ud800", ["\udcff", 3])}) == {"k": ("a\ufffd", ["\ufffd", 3])}
    assert printable("naïve ✓ 😀") == "naïve ✓ 😀"


def test_a_saved_call_nested_too_deep_still_converts_for_anthropic() -> None:
    from hermes_nb.agent.providers.anthropic_messages import to_anthropic

    deep = '{"a":' * 5000 + "1" + "}" * 5000
    call = {"id": "c1", "type": "function", "function": {"name": "python", "arguments": deep}}
    messages = [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": "Error: nested deeper than 64 levels"},
    ]
    _, converted = to_anthropic(messages)
    [use] = [b for b in converted[1]["content"] if b["type"] == "tool_use"]
    assert use["input"] == {} and use["id"] == "c1"
