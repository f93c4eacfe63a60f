"""Request bodies: the unchanged history prefix is encoded once per turn."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hermes_nb.agent.providers import body as body_mod
from hermes_nb.agent.providers.body import BodyEncoder


def history(n: int) -> list[dict[str, Any]]:
    return [{"role": "user" if i % 2 == 0 else "assistant", "content": f"m{i} é"} for i in range(n)]


def test_body_is_the_json_of_params_and_messages() -> None:
    msgs = history(5)
    params = {"model": "m", "stream": True, "tools": [{"type": "function"}]}
    data = json.loads(BodyEncoder().encode(params, msgs))
    assert data == {**params, "messages": msgs}


def test_empty_messages_and_empty_params() -> None:
    assert json.loads(BodyEncoder().encode({}, [])) == {"messages": []}


def test_only_new_messages_are_encoded(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []
    real = body_mod.json_bytes

    def counting(value: Any) -> bytes:
        calls.append(value)
        return real(value)

    monkeypatch.setattr(body_mod, "json_bytes", counting)
    enc = BodyEncoder()
    base = history(1000)
    enc.encode({"model": "m"}, base)
    assert len(calls) == 1001  # params + every message
    calls.clear()
    step = [{"role": "assistant", "content": None, "tool_calls": []}, {"role": "tool", "content": "x"}]
    body = enc.encode({"model": "m"}, base + step)
    assert len(calls) == 3  # params + the two new messages
    assert json.loads(body)["messages"] == base + step
    calls.clear()
    # the next step re-cleans the turn's messages (new objects): only those are encoded
    step2 = [dict(m) for m in step] + [{"role": "assistant", "content": "done"}]
    body = enc.encode({"model": "m"}, base + step2)
    assert len(calls) == 4
    assert json.loads(body)["messages"] == base + step2


def test_equal_but_different_objects_are_encoded_again() -> None:
    """Identity, not equality: a message changed in a copy is never served stale."""
    enc = BodyEncoder()
    first = history(3)
    enc.encode({}, first)
    second = [dict(m) for m in first]
    second[1]["content"] = "changed"
    assert json.loads(enc.encode({}, second))["messages"][1]["content"] == "changed"


def test_a_shorter_history_drops_the_rest() -> None:
    enc = BodyEncoder()
    msgs = history(10)
    enc.encode({}, msgs)
    assert json.loads(enc.encode({}, msgs[:4]))["messages"] == msgs[:4]
    assert json.loads(enc.encode({}, msgs))["messages"] == msgs


def test_lone_surrogate_is_sent_as_an_escape() -> None:
    msgs = [{"role": "user", "content": "name\udcff.txt"}, {"role": "user", "content": "ok ü"}]
    raw = BodyEncoder().encode({}, msgs)
    raw.decode("utf-8")  # valid UTF-8 on the wire
    assert json.loads(raw)["messages"] == msgs
    assert "ü".encode() in raw  # other messages stay UTF-8, not \\u escapes


def test_a_step_copies_the_body_once() -> None:
    """A long history's step allocates about one body, not the joined history again
    and again (three copies of 33 MB a step at 100,000 messages)."""
    import tracemalloc

    enc = BodyEncoder()
    base = [{"role": "user", "content": f"{i:05d} " + "x" * 200} for i in range(3000)]
    params = {"model": "m", "stream": True}
    turn: list[dict[str, Any]] = []
    for step in range(3):
        turn = [dict(m) for m in turn] + [{"role": "assistant", "content": f"step {step}"}]
        if step == 2:
            tracemalloc.start()
        body = enc.encode(params, base + turn)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert json.loads(body)["messages"] == base + turn
    assert peak < 1.5 * len(body), (peak, len(body))
