"""What the status line, a cancelled transcript and a terminal's tool lines say."""

from __future__ import annotations

import pytest

from hermes_nb.agent.events import Done, Notice, Token, ToolCompleted, ToolStarted, Usage
from hermes_nb.ui import TextRenderer
from hermes_nb.ui.fragments import status_html, status_text
from hermes_nb.ui.history_text import render_history_plain
from hermes_nb.ui.state import CANCELLED, CANCELLING, TurnDisplay
from hermes_nb.ui.transcript import history_mimebundle, to_html, to_markdown, to_plain


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def finished(seconds: float, tokens: int, cost: float | None) -> TurnDisplay:
    clock = FakeClock()
    d = TurnDisplay("m", clock=clock)
    d.apply(Token("answer"))
    d.apply(Usage(10, tokens, cost))
    clock.now += seconds
    d.apply(Done())
    return d


def test_a_rate_needs_a_meaningful_measurement() -> None:
    replayed = finished(0.001, 39, None)  # a replay answers at once: 39,000 tok/s is nonsense
    assert replayed.tokens_per_second is None
    assert "tok/s" not in status_text(replayed.status(), timing=True)
    assert "tok/s" not in status_html(replayed.status())
    assert finished(2.0, 3, None).tokens_per_second is None  # too few tokens to say
    real = finished(2.0, 100, None)
    assert real.tokens_per_second == 50.0
    assert "50.0 tok/s" in status_text(real.status(), timing=True)
    assert "50.0 tok/s" in status_html(real.status())


@pytest.mark.parametrize(
    ("cost", "shown"),
    [(None, None), (0.0, None), (0.0123, "$0.0123"), (0.00001, "<$0.0001")],
)
def test_cost_only_when_there_is_a_price(cost: float | None, shown: str | None) -> None:
    status = finished(1.0, 10, cost).status()
    for text in (status_text(status), status_html(status)):
        if shown is None:
            assert "$" not in text
        else:
            assert shown in text.replace("&lt;", "<")


def test_a_cancelled_transcript_says_cancelled_not_cancelling() -> None:
    d = TurnDisplay("m")
    d.apply_all([Token("partial"), Notice(CANCELLING)])
    assert "Cancelling" in to_plain(d)  # while the cancel is on its way
    d.finish("cancelled")
    for text in (to_plain(d), to_markdown(d), to_html(d)):
        assert "Cancelling" not in text and CANCELLED.split(";")[0] in text


def test_a_terminal_says_when_the_cancel_is_done(capsys: pytest.CaptureFixture[str]) -> None:
    r = TextRenderer("m")
    r.start()
    r.handle(Token("partial"))
    r.handle(Notice(CANCELLING))
    r.flush()
    r.finish("cancelled")
    lines = capsys.readouterr().out.splitlines()
    assert lines[1:3] == [f"Note: {CANCELLING}", f"Note: {CANCELLED}"]


def test_a_terminal_shows_a_tools_value_and_its_error(capsys: pytest.CaptureFixture[str]) -> None:
    r = TextRenderer("m")
    r.start()
    r.handle(ToolStarted("c1", "python", {"code": "print('hi'); 6 * 7"}))
    r.handle(ToolCompleted("c1", "python", "[stdout]\nhi\n[result]\n42", 0.01))
    r.handle(ToolStarted("c2", "python", {"code": "1/0"}))
    r.handle(ToolCompleted("c2", "python", "[error]\nZeroDivisionError: division by zero", 0.0, is_error=True))
    r.handle(ToolStarted("c3", "python", {"code": "many"}))
    r.handle(ToolCompleted("c3", "python", "[stdout]\n" + "\n".join(f"line {i}" for i in range(30)), 0.0))
    r.flush()
    out = capsys.readouterr().out
    first = out[out.index("✓ python done") :]
    assert first.splitlines()[1:5] == ["    [stdout]", "    hi", "    [result]", "    42"]
    assert "✗ python failed in 0.0s\n    [error]\n    ZeroDivisionError: division by zero" in out
    assert "    line 6\n    … (23 more lines)" in out and "line 7" not in out


HISTORY = [
    {"role": "user", "content": "Say 'hi' <b>loudly</b>"},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "a", "type": "function", "function": {"name": "python", "arguments": '{"code": "print(\'hi\')"}'}},
    ]},
    {"role": "tool", "tool_call_id": "a", "content": "[stdout]\nhi"},
    {"role": "assistant", "content": "It's said."},
    {"role": "user", "content": "again"},
    {"role": "marker", "kind": "error", "content": "Run failed: no key"},
]


def test_history_in_a_terminal_is_plain_text_numbered_by_turn() -> None:
    text = render_history_plain(HISTORY, title="Greetings")
    assert "&#x27;" not in text and "&lt;" not in text and "<details>" not in text
    assert "[1] User:\n    Say 'hi' <b>loudly</b>" in text
    assert "⚙ python(code=\"print('hi')\")\n      [stdout]\n      hi" in text
    assert "Assistant:\n    It's said." in text
    assert "[2] User:\n    again" in text and "(error: Run failed: no key)" in text
    bundle = history_mimebundle(HISTORY, title="Greetings")
    assert bundle["text/plain"] == text
    assert "**1. User**" in bundle["text/markdown"] and "**2. User**" in bundle["text/markdown"]
    assert "<b>1. User</b>" in bundle["text/html"] and "<b>2. User</b>" in bundle["text/html"]
