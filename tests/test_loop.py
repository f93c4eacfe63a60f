"""The agent loop end to end, driven by the replay provider and real tools."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from hermes_nb.agent.events import (
    Done,
    ErrorEvent,
    Event,
    Notice,
    Reasoning,
    Retry,
    Token,
    ToolCompleted,
    ToolStarted,
    Usage,
)
from hermes_nb.agent.history import to_provider_messages
from hermes_nb.agent.loop import Agent, TurnResult
from hermes_nb.agent.providers.base import Provider, TextDelta, ToolCallRequest
from hermes_nb.agent.providers.replay import ReplayProvider
from hermes_nb.agent.tools import ToolOutput, ToolRegistry, builtin_tools
from hermes_nb.agent.turn import TurnState
from hermes_nb.errors import ToolError

CANCELLED = "Cancelled by the user."


def _call(name: str, **arguments: Any) -> dict[str, Any]:
    return {"name": name, "arguments": arguments}


def _run(
    replies: list[Any],
    tools: ToolRegistry | None = None,
    *,
    history: list[dict[str, Any]] | None = None,
    user: str | None = "go",
    cancel: threading.Event | None = None,
    turn: TurnState | None = None,
    **agent_options: Any,
) -> tuple[TurnResult, list[Event], ReplayProvider]:
    provider = ReplayProvider(script={"replies": replies})
    agent = Agent(provider, tools, **agent_options)
    events: list[Event] = []
    result = agent.run(history or [], user, events.append, cancel or threading.Event(), turn)
    return result, events, provider


def _of(events: list[Event], kind: type) -> list[Any]:
    return [e for e in events if isinstance(e, kind)]


def _tools(**funcs: Callable[..., Any]) -> ToolRegistry:
    reg = ToolRegistry()
    for name, func in funcs.items():
        reg.register(func, name=name)
    return reg


def _assert_history_valid(history: list[dict[str, Any]], result: TurnResult) -> None:
    """Every call the turn made has exactly one result, and the next request is clean."""
    calls = [c["id"] for m in result.messages for c in m.get("tool_calls", [])]
    answers = [m["tool_call_id"] for m in result.messages if m["role"] == "tool"]
    assert sorted(calls) == sorted(answers)
    assert len(set(answers)) == len(answers)
    sent = to_provider_messages([*history, {"role": "user", "content": "go"}, *result.messages])
    assert [m for m in sent if m["role"] == "tool"] == [
        {"role": "tool", "tool_call_id": m["tool_call_id"], "content": m["content"]}
        for m in result.messages
        if m["role"] == "tool"
    ]


def echo(text: str) -> str:
    """Say ``text`` back."""
    return f"echo: {text}"


# -- plain answers ------------------------------------------------------------------------


def test_text_reply_streams_tokens_and_completes() -> None:
    history: list[dict[str, Any]] = [
        {"role": "user", "content": "earlier"},
        {"role": "marker", "kind": "cancelled", "content": "stopped", "at": 1.0},
        {"role": "assistant", "content": "ok", "at": 2.0},
    ]
    result, events, provider = _run(
        [
            "ok",  # the reply already in the history: replay picks replies by position
            {
                "text": "Hello there, friend.",
                "reasoning": "greet",
                "usage": {"input_tokens": 7, "output_tokens": 3, "cost": 0.5},
            },
        ],
        history=history,
        system_prompt="Be nice.",
    )
    assert "".join(e.text for e in _of(events, Token)) == "Hello there, friend."
    assert len(_of(events, Token)) == 3  # streamed word by word
    assert _of(events, Reasoning) == [Reasoning("greet")]
    assert _of(events, Usage) == [Usage(7, 3, 0.5)]
    assert events[-1] == Done("complete")
    assert result.stop_reason == "complete" and result.error is None
    assert result.text == "Hello there, friend."
    assert [(m["role"], m["content"]) for m in result.messages] == [("assistant", "Hello there, friend.")]
    assert (result.input_tokens, result.output_tokens, result.cost) == (7, 3, 0.5)
    assert provider.requests == [
        [
            {"role": "system", "content": "Be nice."},
            {"role": "user", "content": "earlier"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "go"},
        ]
    ]


def test_resume_without_a_new_user_message() -> None:
    history = [{"role": "user", "content": "hi"}]
    result, _, provider = _run(["Back."], history=history, user=None)
    assert result.text == "Back."
    assert provider.requests[0] == [{"role": "user", "content": "hi"}]


# -- tools ----------------------------------------------------------------------------------


def test_several_tool_calls_in_one_reply_then_answer() -> None:
    replies = [
        {"text": "Checking.", "tool_calls": [_call("echo", text="a"), _call("echo", text="b")], "usage": {"input_tokens": 5, "output_tokens": 2}},
        {"text": "Both done.", "usage": {"input_tokens": 20, "output_tokens": 2, "cost": 0.1}},
    ]
    result, events, provider = _run(replies, _tools(echo=echo))
    kinds = [e.kind for e in events if not isinstance(e, (Token, Usage))]
    assert kinds == ["tool.started", "tool.completed", "tool.started", "tool.completed", "done"]
    started = _of(events, ToolStarted)
    assert [(s.call_id, s.arguments) for s in started] == [("call_1_1", {"text": "a"}), ("call_1_2", {"text": "b"})]
    assert [c.result for c in _of(events, ToolCompleted)] == ["echo: a", "echo: b"]
    assert result.text == "Both done."
    assert [m["role"] for m in result.messages] == ["assistant", "tool", "tool", "assistant"]
    assert result.messages[0]["content"] == "Checking."
    assert (result.input_tokens, result.output_tokens, result.cost) == (25, 4, 0.1)
    second = provider.requests[1]
    assert second[-2:] == [
        {"role": "tool", "tool_call_id": "call_1_1", "content": "echo: a"},
        {"role": "tool", "tool_call_id": "call_1_2", "content": "echo: b"},
    ]
    assert second[-3]["tool_calls"][1]["function"] == {"name": "echo", "arguments": '{"text": "b"}'}
    assert [t["function"]["name"] for t in provider.tools[0]] == ["echo"]
    _assert_history_valid([], result)


def test_builtin_python_tool_through_the_loop() -> None:
    ns: dict[str, Any] = {}
    replies = [{"tool_calls": [_call("python", code="total = sum(range(5))\nprint(total)\ntotal * 2")]}, "Done."]
    result, events, _ = _run(replies, builtin_tools(ns))
    assert ns["total"] == 10
    assert _of(events, ToolCompleted)[0].result == "[stdout]\n10\n[result]\n20"
    assert result.messages[0]["content"] is None  # a reply with calls and no text


def test_needs_kernel_tools_go_through_the_kernel_runner() -> None:
    """The runner executes on the thread that calls it (here the test's), as the cell thread does."""
    jobs: queue.Queue[tuple[Callable[[], ToolOutput], queue.Queue[ToolOutput]]] = queue.Queue()
    threads: list[str] = []

    def runner(fn: Callable[[], ToolOutput]) -> ToolOutput:
        answer: queue.Queue[ToolOutput] = queue.Queue()
        jobs.put((fn, answer))
        return answer.get(timeout=10)

    def where() -> str:
        """Report the current thread."""
        threads.append(threading.current_thread().name)
        return threading.current_thread().name

    reg = ToolRegistry()
    reg.register(where, needs_kernel=True)
    out: list[TurnResult] = []
    provider = ReplayProvider(script={"replies": [{"tool_calls": [_call("where")]}, "ok"]})
    agent = Agent(provider, reg, kernel_runner=runner)
    worker = threading.Thread(target=lambda: out.append(agent.run([], "go", lambda e: None, threading.Event())))
    worker.start()
    fn, answer = jobs.get(timeout=10)
    answer.put(fn())
    worker.join(10)
    assert threads == [threading.current_thread().name]
    assert out[0].messages[1]["content"] == threading.current_thread().name


def test_a_tool_that_raises_is_reported_and_the_run_goes_on() -> None:
    def boom(n: int) -> str:
        """Fail."""
        raise ValueError(f"bad value {n}")

    def strict() -> str:
        """Fail with our own error."""
        raise ToolError("strict says no")

    replies = [{"tool_calls": [_call("boom", n=3), _call("strict")]}, "Recovered."]
    result, events, provider = _run(replies, _tools(boom=boom, strict=strict))
    done = _of(events, ToolCompleted)
    assert done[0].is_error and done[0].result == "Error: the tool raised ValueError: bad value 3"
    assert done[1].is_error and done[1].result == "Error: strict says no"
    assert result.stop_reason == "complete" and result.text == "Recovered."
    assert provider.requests[1][-2]["content"] == "Error: the tool raised ValueError: bad value 3"


def test_malformed_arguments_unknown_tool_and_wrong_argument_names() -> None:
    replies = [
        {
            "tool_calls": [
                {"name": "echo", "arguments": '{"text": "unterminated'},
                {"name": "echo", "arguments": "[1, 2]"},
                _call("nosuch", x=1),
                _call("echo", txt="typo"),
                {"name": "echo", "arguments": ""},
            ]
        },
        "I will fix my call.",
    ]
    result, events, _ = _run(replies, _tools(echo=echo))
    started = _of(events, ToolStarted)
    assert started[0].arguments == {"_invalid_json": '{"text": "unterminated'}
    texts = [c.result for c in _of(events, ToolCompleted)]
    assert all(c.is_error for c in _of(events, ToolCompleted))
    assert texts[0].startswith("Error: the arguments are not valid JSON")
    assert "was not run" in texts[0]
    assert "must be a JSON object, not list" in texts[1]
    assert texts[2] == "Error: there is no tool named 'nosuch'. Available tools: echo."
    assert texts[3].startswith("Error: invalid arguments for echo:") and "expected: text" in texts[3]
    assert "missing a required argument: 'text'" in texts[4]
    assert result.stop_reason == "complete"
    _assert_history_valid([], result)


def test_large_results_are_truncated_with_a_note() -> None:
    def big() -> str:
        """A lot of output."""
        return "A" * 5000 + "B" * 5000 + "END"

    result, events, provider = _run([{"tool_calls": [_call("big")]}, "ok"], _tools(big=big), max_result_chars=1000)
    text = _of(events, ToolCompleted)[0].result
    assert text.startswith("A" * 800) and text.endswith("B" * 197 + "END")
    assert "result truncated: 9003 of 10003 characters omitted" in text
    assert provider.requests[1][-1]["content"] == text
    assert result.messages[1]["content"] == text


# -- approval ---------------------------------------------------------------------------------


def _approval_run(
    policy: str | None, approve: Callable[[str, dict[str, Any]], bool] | None, default: str = "ask"
) -> tuple[str, bool, list[tuple[str, dict[str, Any]]]]:
    ran: list[str] = []
    asked: list[tuple[str, dict[str, Any]]] = []

    def act(what: str) -> str:
        """Do something that needs permission."""
        ran.append(what)
        return "acted"

    reg = ToolRegistry()
    reg.register(act, policy=default)

    def asking(name: str, args: dict[str, Any]) -> bool:
        asked.append((name, args))
        assert approve is not None
        return approve(name, args)

    _, events, _ = _run(
        [{"tool_calls": [_call("act", what="x")]}, "ok"],
        reg,
        policies={"act": policy} if policy else None,
        approve=asking if approve else None,
    )
    return _of(events, ToolCompleted)[0].result, bool(ran), asked


def test_allow_runs_without_asking() -> None:
    assert _approval_run("allow", lambda n, a: False) == ("acted", True, [])


def test_ask_approved_runs() -> None:
    result, ran, asked = _approval_run(None, lambda n, a: True)
    assert (result, ran, asked) == ("acted", True, [("act", {"what": "x"})])


def test_ask_declined_tells_the_model() -> None:
    result, ran, asked = _approval_run(None, lambda n, a: False)
    assert not ran and asked == [("act", {"what": "x"})]
    assert result.startswith("The user declined this call of 'act'")


def test_ask_without_a_way_to_ask_is_denied_and_said_so() -> None:
    result, ran, _ = _approval_run(None, None)
    assert not ran
    assert "needs the user's approval and there is no way to ask" in result


def test_deny_policy_overrides_the_tool_default() -> None:
    result, ran, asked = _approval_run("deny", lambda n, a: True, default="allow")
    assert not ran and not asked
    assert result.startswith("Denied by the user's policy")


def test_an_approval_callback_that_fails_denies() -> None:
    def broken(name: str, args: dict[str, Any]) -> bool:
        raise RuntimeError("no stdin")

    result, ran, _ = _approval_run(None, broken)
    assert not ran and "declined" in result


def test_bad_policy_names_are_rejected() -> None:
    with pytest.raises(ToolError, match="unknown policy 'maybe'"):
        Agent(ReplayProvider(script={"replies": []}), policies={"shell": "maybe"})


# -- limits and failures ----------------------------------------------------------------------


def test_turn_limit_stops_with_a_notice_and_valid_history() -> None:
    replies = [{"tool_calls": [_call("echo", text=str(i))]} for i in range(5)]
    result, events, provider = _run(replies, _tools(echo=echo), max_turns=3)
    assert len(provider.requests) == 3
    notice = _of(events, Notice)[0].text
    assert "Stopped after 3 model requests without a final answer" in notice and "max_turns" in notice
    assert events[-1] == Done("turn_limit")
    assert result.stop_reason == "turn_limit" and result.error is None and result.text == ""
    assert [m["role"] for m in result.messages] == ["assistant", "tool"] * 3
    _assert_history_valid([], result)


def test_provider_error_keeps_partial_text_and_messages() -> None:
    replies = [
        {"tool_calls": [_call("echo", text="a")]},
        {"chunks": ["Half ", "an "], "error": "Service unavailable after 3 retries.\nDetails..."},
    ]
    turn = TurnState()
    result, events, _ = _run(replies, _tools(echo=echo), turn=turn)
    assert _of(events, ErrorEvent) == [ErrorEvent("Service unavailable after 3 retries.", "ProviderError")]
    assert events[-1] == Done("error")
    assert result.stop_reason == "error"
    assert result.error == "Service unavailable after 3 retries."
    assert result.text == "Half an "
    assert [m["role"] for m in result.messages] == ["assistant", "tool"]
    snap = turn.snapshot()
    assert snap.partial_text == "Half an " and snap.finished and len(snap.messages) == 2


def test_running_out_of_script_is_a_clear_error() -> None:
    result, events, _ = _run([{"tool_calls": [_call("echo", text="a")]}], _tools(echo=echo))
    assert result.stop_reason == "error"
    assert result.error is not None and "no reply left" in result.error
    assert _of(events, ErrorEvent)[0].error_type == "ProviderError"


def test_retry_drops_the_partial_step() -> None:
    replies = [{"chunks": ["Wrong ", "start", {"retry": "rate limited", "wait": 1.5}, "Right ", "answer."]}]
    turn = TurnState()
    result, events, _ = _run(replies, turn=turn)
    assert _of(events, Retry) == [Retry(1, 1.5, "rate limited")]
    assert result.text == "Right answer."
    assert result.messages[0]["content"] == "Right answer."


def test_model_without_tools_runs_plain_chat_and_says_so_once() -> None:
    provider = ReplayProvider(script={"replies": ["Just text."]})
    provider.supports_tools = False
    events: list[Event] = []
    result = Agent(provider, _tools(echo=echo)).run([], "hi", events.append, threading.Event())
    assert _of(events, Notice) == [Notice(f"{provider.spec} cannot call tools; running as plain chat")]
    assert provider.tools == [[]]
    assert result.text == "Just text."
    _, events2, provider2 = _run(["x"])  # no tools at all: nothing to say
    assert not _of(events2, Notice) and provider2.tools == [[]]


# -- cancel -----------------------------------------------------------------------------------


def test_cancel_mid_text_keeps_the_partial_text() -> None:
    cancel = threading.Event()
    turn = TurnState()
    events: list[Event] = []

    def sink(event: Event) -> None:
        events.append(event)
        if isinstance(event, Token) and event.text == "three ":
            cancel.set()

    provider = ReplayProvider(script={"replies": [{"text": "one two three four five six", "delay": 0.01}]})
    result = Agent(provider).run([], "go", sink, cancel, turn)
    assert events[-1] == Done("cancelled")
    assert result.stop_reason == "cancelled"
    assert result.text == "one two three "
    assert result.messages == []  # the caller decides what to keep
    assert turn.snapshot().partial_text == "one two three "


def test_cancel_from_another_thread_during_delays_is_prompt() -> None:
    cancel = threading.Event()
    provider = ReplayProvider(script={"replies": [{"chunks": ["a ", "b ", "c "], "delay": 10}]})
    threading.Timer(0.2, cancel.set).start()
    start = time.monotonic()
    result = Agent(provider).run([], "go", lambda e: None, cancel)
    assert time.monotonic() - start < 3
    assert result.stop_reason == "cancelled" and result.text == ""


def test_cancel_mid_tool_answers_every_open_call() -> None:
    release = threading.Event()
    started = threading.Event()

    def slow() -> str:
        """Wait for a long time."""
        started.set()
        release.wait(30)
        return "finished too late"

    cancel = threading.Event()
    turn = TurnState()
    replies = [
        {"text": "Working.", "tool_calls": [_call("echo", text="first"), _call("slow"), _call("echo", text="never")]},
        "unused",
    ]
    provider = ReplayProvider(script={"replies": replies})
    events: list[Event] = []
    box: list[TurnResult] = []
    agent = Agent(provider, _tools(echo=echo, slow=slow))
    worker = threading.Thread(target=lambda: box.append(agent.run([], "go", events.append, cancel, turn)))
    worker.start()
    assert started.wait(10)
    snap = turn.snapshot()
    assert [c[1] for c in snap.open_calls] == ["slow", "echo"]  # answered ones are closed
    cancel.set()
    worker.join(10)
    release.set()
    result = box[0]
    assert result.stop_reason == "cancelled" and events[-1] == Done("cancelled")
    contents = [m["content"] for m in result.messages if m["role"] == "tool"]
    assert contents == ["echo: first", CANCELLED, CANCELLED]
    completed = _of(events, ToolCompleted)
    assert [(c.name, c.result) for c in completed] == [("echo", "echo: first"), ("slow", CANCELLED)]
    assert len(provider.requests) == 1
    _assert_history_valid([], result)
    final = turn.snapshot()
    assert final.open_calls == [] and final.finished and len(final.messages) == 4


def test_keyboard_interrupt_in_the_python_tool_becomes_a_cancel() -> None:
    cancel = threading.Event()
    replies = [{"tool_calls": [_call("python", code="raise KeyboardInterrupt"), _call("python", code="1")]}]
    provider = ReplayProvider(script={"replies": replies})
    events: list[Event] = []
    result = Agent(provider, builtin_tools()).run([], "go", events.append, cancel)
    assert cancel.is_set() and result.stop_reason == "cancelled"
    assert [m["content"] for m in result.messages if m["role"] == "tool"] == [CANCELLED, CANCELLED]
    _assert_history_valid([], result)


def test_kernel_runner_interrupted_by_cancel() -> None:
    cancel = threading.Event()

    def runner(fn: Callable[[], ToolOutput]) -> ToolOutput:
        cancel.set()  # the user pressed Stop while the cell thread ran the tool
        raise KeyboardInterrupt

    replies = [{"tool_calls": [_call("python", code="1")]}]
    result, events, _ = _run(replies, builtin_tools(), cancel=cancel, kernel_runner=runner)
    assert result.stop_reason == "cancelled"
    assert result.messages[-1]["content"] == CANCELLED


def test_cancel_before_start_sends_nothing() -> None:
    cancel = threading.Event()
    cancel.set()
    result, events, provider = _run(["never"], cancel=cancel)
    assert provider.requests == [] and events == [Done("cancelled")] and result.messages == []


# -- turn state --------------------------------------------------------------------------------


def test_turn_state_versions_and_waiting() -> None:
    turn = TurnState()
    v0 = turn.version
    assert turn.wait_for_change(v0, timeout=0.05) == v0  # nothing happened
    threading.Timer(0.05, lambda: turn.append_text("hi")).start()
    v1 = turn.wait_for_change(v0, timeout=5)
    assert v1 > v0 and turn.partial_text == "hi"
    turn.add_message({"role": "assistant", "content": "hi", "tool_calls": []}, open_calls=[("c1", "echo", "{}")])
    snap = turn.snapshot()
    assert snap.partial_text == "" and snap.open_calls == [("c1", "echo", "{}")] and snap.version > v1
    snap.messages[0]["content"] = "changed"  # snapshots are copies
    assert turn.snapshot().messages[0]["content"] == "hi"
    turn.add_message({"role": "tool", "tool_call_id": "c1", "content": "x"}, close_call="c1")
    assert turn.snapshot().open_calls == []
    turn.finish()
    assert turn.snapshot().finished


def test_every_event_bumps_the_turn_version() -> None:
    turn = TurnState()
    versions: list[int] = []
    replies = [{"text": "a b", "tool_calls": [_call("echo", text="x")]}, {"text": "c d"}]
    result, _, _ = _run(replies, _tools(echo=echo), turn=turn)
    versions.append(turn.version)
    # 2 + 2 tokens, assistant message, tool result, final message, finish
    assert versions[0] == 8
    assert json.dumps(turn.snapshot().messages)  # JSON-safe for checkpoints
    assert turn.snapshot().messages == result.messages


def test_calls_without_ids_or_with_repeated_ids_get_their_own() -> None:
    replies = [
        {
            "tool_calls": [
                {"id": "same", "name": "echo", "arguments": {"text": "1"}},
                {"id": "same", "name": "echo", "arguments": {"text": "2"}},
            ]
        },
        "ok",
    ]
    result, events, provider = _run(replies, _tools(echo=echo))
    ids = [c["id"] for c in result.messages[0]["tool_calls"]]
    assert ids[0] == "same" and ids[1] != "same" and ids[1]
    assert [e.call_id for e in _of(events, ToolCompleted)] == ids
    assert [m["content"] for m in provider.requests[1] if m["role"] == "tool"] == ["echo: 1", "echo: 2"]
    _assert_history_valid([], result)


class _Recording(Provider):
    """Two tool calls, then an answer; keeps each request's list as it was sent."""

    spec = "test:recording"

    def __init__(self) -> None:
        self.requests: list[list[dict[str, Any]]] = []

    def stream(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], cancel: threading.Event) -> Iterator[Any]:
        self.requests.append(list(messages))
        step = len(self.requests)
        if step < 3:
            yield ToolCallRequest(f"c{step}", "echo", json.dumps({"text": str(step)}))
        else:
            yield TextDelta("done")


def test_each_step_reuses_the_history_objects_of_the_first() -> None:
    """The settled history is cleaned once per turn: the provider sees the very same
    message objects at every step, so their encoding is reused (providers/body.py)."""
    history = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"m{i}"} for i in range(20)]
    provider = _Recording()
    agent = Agent(provider, _tools(echo=echo), system_prompt="sys")
    result = agent.run(history, "go", lambda e: None, threading.Event())
    first, second, third = provider.requests
    settled = len(history) + 2  # the system prompt, the history, the request
    assert len(first) == settled
    assert all(second[i] is first[i] and third[i] is first[i] for i in range(settled))
    assert [m["role"] for m in third[settled:]] == ["assistant", "tool", "assistant", "tool"]
    assert result.text == "done"
