"""Stored messages become a history every chat API accepts."""

from __future__ import annotations

import copy
from typing import Any

from hermes_nb.agent.history import MISSING_RESULT, to_provider_messages


def _call(cid: str, name: str = "python", args: Any = '{"code": "1"}') -> dict[str, Any]:
    return {"id": cid, "type": "function", "function": {"name": name, "arguments": args}}


def _assert_every_call_answered_once(messages: list[dict[str, Any]]) -> None:
    """Each assistant tool call is followed, before any other role, by exactly one result."""
    i = 0
    while i < len(messages):
        m = messages[i]
        if m["role"] == "tool":
            raise AssertionError(f"orphan tool result at {i}: {m}")
        i += 1
        if m["role"] == "assistant" and m.get("tool_calls"):
            ids = [c["id"] for c in m["tool_calls"]]
            answered = []
            while i < len(messages) and messages[i]["role"] == "tool":
                answered.append(messages[i]["tool_call_id"])
                i += 1
            assert sorted(answered) == sorted(ids), (ids, answered)


def test_markers_and_extra_keys_are_dropped_and_system_prompt_first() -> None:
    stored: list[dict[str, Any]] = [
        {"role": "user", "content": "hi", "at": 1.0, "recovered": True},
        {"role": "marker", "kind": "cancelled", "content": "Cancelled", "at": 2.0},
        {"role": "assistant", "content": "hello", "at": 3.0, "reasoning": "x"},
    ]
    before = copy.deepcopy(stored)
    out = to_provider_messages(stored, system_prompt="Be brief.")
    assert out == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
    ]
    assert stored == before  # the session's messages are not modified
    assert to_provider_messages(stored)[0] == {"role": "user", "content": "hi"}


def test_missing_result_is_inserted_right_after_the_preceding_ones() -> None:
    stored: list[dict[str, Any]] = [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": None, "tool_calls": [_call("a"), _call("b"), _call("c")]},
        {"role": "tool", "tool_call_id": "a", "content": "A"},
        {"role": "marker", "kind": "interrupted", "content": "kernel died"},
        {"role": "tool", "tool_call_id": "c", "content": "C"},
        {"role": "user", "content": "again"},
    ]
    out = to_provider_messages(stored)
    assert [m["role"] for m in out] == ["user", "assistant", "tool", "tool", "tool", "user"]
    assert [(m["tool_call_id"], m["content"]) for m in out[2:5]] == [
        ("a", "A"),
        ("c", "C"),
        ("b", MISSING_RESULT),
    ]
    _assert_every_call_answered_once(out)


def test_calls_at_the_end_of_history_get_results() -> None:
    out = to_provider_messages(
        [{"role": "user", "content": "go"}, {"role": "assistant", "content": "", "tool_calls": [_call("x")]}]
    )
    assert out[-1] == {"role": "tool", "tool_call_id": "x", "content": MISSING_RESULT}
    _assert_every_call_answered_once(out)


def test_orphan_and_duplicate_results_are_dropped() -> None:
    stored: list[dict[str, Any]] = [
        {"role": "tool", "tool_call_id": "ghost", "content": "?"},
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": None, "tool_calls": [_call("a")]},
        {"role": "tool", "tool_call_id": "a", "content": "first"},
        {"role": "tool", "tool_call_id": "a", "content": "second"},
        {"role": "tool", "tool_call_id": "zzz", "content": "wrong id"},
        {"role": "assistant", "content": "done"},
        {"role": "tool", "tool_call_id": "a", "content": "late"},
    ]
    out = to_provider_messages(stored)
    assert [m.get("content") for m in out] == ["go", None, "first", "done"]
    _assert_every_call_answered_once(out)


def test_tool_calls_are_normalised() -> None:
    stored: list[dict[str, Any]] = [
        {"role": "user", "content": "go"},
        {
            "role": "assistant",
            "content": "let me see",
            "tool_calls": [
                {"id": "a", "function": {"name": "f", "arguments": {"x": 1}}, "index": 0},
                {"id": "a", "function": {"name": "f", "arguments": "{}"}},
                {"function": {"name": "no_id"}},
            ],
        },
        {"role": "tool", "tool_call_id": "a", "content": None, "name": "f"},
        {"role": "assistant", "content": None, "tool_calls": []},
    ]
    out = to_provider_messages(stored)
    assert out[1]["tool_calls"] == [_call("a", "f", '{"x": 1}')]
    assert out[2] == {"role": "tool", "tool_call_id": "a", "content": ""}
    assert out[3] == {"role": "assistant", "content": ""}


def test_unknown_roles_dropped_nothing_merged() -> None:
    stored: list[dict[str, Any]] = [
        {"role": "user", "content": "one"},
        {"role": "user", "content": "two"},
        {"role": "banana", "content": "?"},
        {"role": "assistant", "content": "a"},
        {"role": "assistant", "content": "b"},
    ]
    assert [m["content"] for m in to_provider_messages(stored)] == ["one", "two", "a", "b"]


def test_a_cache_hands_the_next_turn_the_same_cleaned_objects() -> None:
    """The next turn of a long session reuses the cleaned copies (and so their encoded
    bytes) of every message it shares with the turn before; what changed place (the
    last user message, whose namespace summary moves on) is cleaned again."""
    from hermes_nb.agent.history import CleanCache

    context = [{"kind": "namespace", "text": "df: DataFrame"}]
    history = [
        {"role": "user", "content": "q1", "context": context},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "python", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "ok"},
        {"role": "marker", "kind": "note", "content": "for the user"},
        {"role": "assistant", "content": "a1"},
        {"role": "user", "content": "q2", "context": context},
    ]  # fmt: skip
    cache = CleanCache()
    first = to_provider_messages(history, "Be brief.", cache=cache)
    later = [*history, {"role": "assistant", "content": "a2"}, {"role": "user", "content": "q3"}]
    second = to_provider_messages(later, "Be brief.", cache=cache)
    assert first == to_provider_messages(history, "Be brief.")
    assert second == to_provider_messages(later, "Be brief.")
    assert all(a is b for a, b in zip(first[:5], second[:5], strict=True))  # system .. a1
    assert second[5] is not first[5] and second[5] != first[5]  # q2, no longer the last
    assert to_provider_messages(later, "Other.", cache=cache)[0]["content"] == "Other."
