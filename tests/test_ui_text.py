"""TextRenderer: what a terminal shows, and choose_renderer outside a notebook kernel."""

from __future__ import annotations

import subprocess
import sys

import pytest
from IPython.utils.capture import CapturedIO

from hermes_nb.agent.events import (
    Done,
    ErrorEvent,
    Notice,
    Reasoning,
    Retry,
    Token,
    ToolCompleted,
    ToolStarted,
    Usage,
)
from hermes_nb.ui import Renderer, StaticRenderer, TextRenderer, choose_renderer
from tests.ui_helpers import displayed_fixture  # noqa: F401  (fixture)


def test_tokens_are_written_at_flush(capsys: pytest.CaptureFixture[str]) -> None:
    r = TextRenderer("m")
    r.start()
    r.handle(Token("Hello "))
    r.handle(Token("world"))
    assert capsys.readouterr().out == ""  # handle only records
    r.flush()
    assert capsys.readouterr().out == "Hello world"
    r.flush()
    assert capsys.readouterr().out == ""


def test_tool_lines_errors_and_status(capsys: pytest.CaptureFixture[str]) -> None:
    r = TextRenderer("openai:gpt-4.1-mini")
    r.start()
    for event in [
        Notice("Tools are limited."),
        Token("Let me check."),
        ToolStarted("c1", "python", {"code": "print(6 * 7)"}),
        ToolCompleted("c1", "python", "42\n", 0.31),
        ToolStarted("c2", "shell", {"command": "ls"}),
        ToolCompleted("c2", "shell", "Denied by policy.", 0.0, is_error=True),
        Token("The answer is 42."),
        Usage(100, 20, 0.0005),
        ErrorEvent("Rate limited.", "RateLimitError"),
        Done("error"),
    ]:
        r.handle(event)
    r.flush()
    r.finish()
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Note: Tools are limited."
    assert lines[1] == "Let me check."
    assert lines[2] == "⚙ python(code='print(6 * 7)') …"
    assert lines[3] == "  ✓ python done in 0.3s: 42"
    assert lines[4] == "⚙ shell(command='ls') …"
    assert lines[5] == "  ⊘ shell denied in 0.0s: Denied by policy."
    assert lines[6] == "The answer is 42."
    assert lines[7] == "Error (RateLimitError): Rate limited."
    status = lines[8]
    assert status.startswith("[openai:gpt-4.1-mini · ") and status.endswith("]")
    assert "100 in / 20 out" in status and "$0.0005" in status and "error" in status
    assert len(lines) == 9


def test_reasoning_and_retry_lines(capsys: pytest.CaptureFixture[str]) -> None:
    r = TextRenderer("m")
    r.handle(Reasoning("thinking"))
    r.handle(Token("Ans"))
    r.handle(Retry(2, 1.0, "HTTP 500"))
    r.handle(Token("Answer"))
    r.finish()
    out = capsys.readouterr().out.splitlines()
    assert out[:4] == [
        "∴ thinking",
        "Ans",
        "↻ Retrying (attempt 2) after 1.0s: HTTP 500",
        "Answer",
    ]


def test_empty_run_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    r = TextRenderer("m")
    r.handle(Done())
    r.finish()
    r.finish()
    out = capsys.readouterr().out
    assert out.count("The model returned no answer.") == 1


def test_tool_outputs_are_displayed(
    displayed: CapturedIO, capsys: pytest.CaptureFixture[str]
) -> None:
    r = TextRenderer("m")
    r.handle(ToolStarted("c", "python", {"code": "df"}))
    r.show_tool_outputs(
        "c", [{"data": {"text/plain": "   a\n0  1", "text/html": "<table/>"}, "metadata": {}}]
    )
    assert displayed.outputs[-1].data == {"text/plain": "   a\n0  1"}  # a tool's HTML is never rendered
    assert capsys.readouterr().out == "⚙ python(code='df') …\n"  # written before the output
    assert r.state.cards["c"].outputs


def test_choose_renderer_modes() -> None:
    assert isinstance(choose_renderer("m"), TextRenderer)  # not inside a notebook kernel
    assert isinstance(choose_renderer("m", "text"), TextRenderer)
    assert isinstance(choose_renderer("m", "static"), StaticRenderer)
    widget = choose_renderer("m", "widget")
    assert type(widget).__name__ == "WidgetRenderer"
    for renderer in (widget, choose_renderer("m", "text"), choose_renderer("m", "static")):
        assert isinstance(renderer, Renderer)
        assert renderer.state.model == "m"
    with pytest.raises(ValueError, match="unknown display mode"):
        choose_renderer("m", "fancy")


def test_static_renderer_displays_only_at_finish(displayed: CapturedIO) -> None:
    r = choose_renderer("m", "static")
    r.start()
    r.handle(Token("Only at the end."))
    r.flush()
    assert displayed.outputs == []
    r.finish("complete")
    assert len(displayed.outputs) == 1
    assert displayed.outputs[0].data["text/plain"] == "Only at the end."


def test_importing_ui_is_cheap() -> None:
    code = (
        "import sys, hermes_nb.ui\n"
        "heavy = [m for m in ('ipywidgets', 'markdown_it', 'IPython', 'pygments') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
