"""The helper threads that open guarded requests: parked between requests, never shared."""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import pytest

from hermes_nb.agent.providers import streamguard
from hermes_nb.agent.providers.streamguard import StreamGuard
from hermes_nb.parked import ParkedThreads


@pytest.fixture(autouse=True)
def fresh_helpers(monkeypatch: pytest.MonkeyPatch) -> None:
    """No parked helpers to start with (those of earlier tests park elsewhere)."""
    monkeypatch.setattr(streamguard, "_HELPERS", ParkedThreads("hermes-nb-stream", max_idle=1000))


class FakeStream:
    def __init__(self) -> None:
        self.closed = threading.Event()

    def close(self) -> None:
        self.closed.set()


def wait_for(predicate: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return False


def parked(thread: threading.Thread) -> bool:
    """Whether ``thread`` is a parked helper."""
    return any(helper.thread is thread for helper in streamguard._HELPERS.idle)


def guarded_open(opened_on: list[threading.Thread], cancel: threading.Event | None = None) -> Any:
    def open_fn() -> FakeStream:
        opened_on.append(threading.current_thread())
        return FakeStream()

    with StreamGuard(cancel or threading.Event(), poll=0.01) as guard:
        return guard.open(open_fn)


def test_a_later_request_is_opened_on_the_parked_helper(monkeypatch: pytest.MonkeyPatch) -> None:
    opened_on: list[threading.Thread] = []
    guarded_open(opened_on)
    assert wait_for(lambda: parked(opened_on[0])), "the helper was not parked"
    guarded_open(opened_on)
    assert opened_on[0] is opened_on[1] and opened_on[0] is not threading.current_thread()
    assert opened_on[0].name == "hermes-nb-stream"


def test_a_busy_helper_is_never_handed_a_second_request(monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    first_on: list[threading.Thread] = []

    def slow_open() -> FakeStream:
        first_on.append(threading.current_thread())
        release.wait(10)
        return FakeStream()

    cancel = threading.Event()
    first = StreamGuard(cancel, poll=0.01)
    opener = threading.Thread(target=first.open, args=(slow_open,))
    opener.start()
    assert wait_for(lambda: bool(first_on))
    second_on: list[threading.Thread] = []
    assert isinstance(guarded_open(second_on), FakeStream)  # not stuck behind the first
    assert second_on[0] is not first_on[0]
    release.set()
    opener.join(10)
    first.close()


def test_a_cancel_during_the_open_walks_away_and_the_late_stream_is_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    late = FakeStream()

    stalled_on: list[threading.Thread] = []

    def stalled_open() -> FakeStream:
        stalled_on.append(threading.current_thread())
        release.wait(10)
        return late

    cancel = threading.Event()
    threading.Timer(0.05, cancel.set).start()
    with StreamGuard(cancel, poll=0.01) as guard:
        started = time.monotonic()
        assert guard.open(stalled_open) is None
        assert time.monotonic() - started < 5
    release.set()
    assert late.closed.wait(10), "the stream that came after the cancel was left open"
    assert wait_for(lambda: parked(stalled_on[0]))  # and its helper serves the next request
    opened_on: list[threading.Thread] = []
    assert isinstance(guarded_open(opened_on), FakeStream)


def test_an_error_while_opening_reaches_the_caller_and_the_helper_carries_on(monkeypatch: pytest.MonkeyPatch) -> None:

    refused_on: list[threading.Thread] = []

    def refused() -> FakeStream:
        refused_on.append(threading.current_thread())
        raise ConnectionRefusedError("nobody there")

    with StreamGuard(threading.Event(), poll=0.01) as guard, pytest.raises(ConnectionRefusedError):
        guard.open(refused)
    assert wait_for(lambda: parked(refused_on[0]))
    opened_on: list[threading.Thread] = []
    assert isinstance(guarded_open(opened_on), FakeStream)


def test_no_more_than_a_few_helpers_stay_parked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(streamguard, "_HELPERS", ParkedThreads("hermes-nb-stream", max_idle=2))
    release = threading.Event()
    opened_on: list[threading.Thread] = []

    def held_open() -> FakeStream:
        opened_on.append(threading.current_thread())
        release.wait(10)
        return FakeStream()

    guards = [StreamGuard(threading.Event(), poll=0.01) for _ in range(4)]
    openers = [threading.Thread(target=g.open, args=(held_open,)) for g in guards]
    for opener in openers:
        opener.start()
    assert wait_for(lambda: len(opened_on) == 4)  # four helpers at once
    release.set()
    for opener, guard in zip(openers, guards, strict=True):
        opener.join(10)
        guard.close()
    assert wait_for(lambda: sum(t.is_alive() for t in opened_on) <= 2)
    assert len(streamguard._HELPERS.idle) == 2


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_opens_requests_on_its_own_helpers(monkeypatch: pytest.MonkeyPatch) -> None:
    opened_on: list[threading.Thread] = []
    guarded_open(opened_on)
    assert wait_for(lambda: parked(opened_on[0]))  # the parent's helper, parked
    pid = os.fork()
    if pid == 0:  # the child: the parked helper's thread does not exist here
        code = 1
        try:
            cancel = threading.Event()
            threading.Timer(5.0, cancel.set).start()
            with StreamGuard(cancel, poll=0.01) as guard:
                code = 0 if isinstance(guard.open(FakeStream), FakeStream) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
