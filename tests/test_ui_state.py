"""TurnDisplay: the display model built from a run's events."""

from __future__ import annotations

import time

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
from hermes_nb.ui.state import (
    ErrorBlock,
    NoticeBlock,
    ReasoningBlock,
    RetryBlock,
    TextBlock,
    ToolCard,
    TurnDisplay,
)


class FakeClock:
    """A clock the test moves by hand, so elapsed time and tokens/s are exact."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_tokens_accumulate_into_one_text_block() -> None:
    d = TurnDisplay("m").apply_all([Token("Hel"), Token("lo "), Token("world")])
    assert len(d.blocks) == 1
    block = d.blocks[0]
    assert isinstance(block, TextBlock)
    assert block.text == "Hello world"
    assert block.version == 3
    assert d.text == "Hello world"


def test_text_is_joined_lazily_and_once() -> None:
    d = TurnDisplay()
    for i in range(1000):
        d.apply(Token(str(i % 10)))
    block = d.blocks[0]
    assert isinstance(block, TextBlock)
    assert len(block.pieces) == 1000  # nothing joined while streaming
    assert len(block.text) == 1000
    assert len(block.pieces) == 1  # joined once, kept
    d.apply(Token("x"))
    assert block.text.endswith("9x")


def test_apply_is_cheap_per_token() -> None:
    d = TurnDisplay()
    start = time.perf_counter()
    for _ in range(100_000):
        d.apply(Token("ab"))
    per_token = (time.perf_counter() - start) / 100_000
    assert per_token < 50e-6  # generous bound: a quadratic join would be far slower
    assert len(d.text) == 200_000


def test_tool_call_splits_text_into_blocks() -> None:
    d = TurnDisplay().apply_all(
        [
            Token("Let me look. "),
            ToolStarted("c1", "python", {"code": "1+1"}),
            Token("It is "),
            Token("2."),
        ]
    )
    kinds = [b.kind for b in d.blocks]
    assert kinds == ["text", "tool", "text"]
    card = d.blocks[1]
    assert isinstance(card, ToolCard)
    assert card.status == "running"
    assert card.arguments == {"code": "1+1"}
    assert d.text == "Let me look. It is 2."


def test_tool_completion_updates_card() -> None:
    d = TurnDisplay().apply_all(
        [
            ToolStarted("c1", "python", {"code": "1+1"}),
            ToolStarted("c2", "shell", {"command": "ls"}),
            ToolCompleted("c1", "python", "2", 0.25),
            ToolCompleted("c2", "shell", "exit status 1", 0.5, is_error=True),
        ]
    )
    c1, c2 = d.cards["c1"], d.cards["c2"]
    assert (c1.status, c1.duration, c1.result) == ("done", 0.25, "2")
    assert (c2.status, c2.duration) == ("failed", 0.5)
    assert d.tool_seconds == 0.75
    assert [b.kind for b in d.blocks] == ["tool", "tool"]


def test_denied_and_cancelled_calls() -> None:
    d = TurnDisplay().apply_all(
        [
            ToolStarted("a", "shell", {"command": "rm -rf /"}),
            ToolCompleted(
                "a", "shell", "Denied: the user did not approve shell.", 0.0, is_error=True
            ),
            ToolStarted("b", "python", {"code": "while True: pass"}),
            ToolCompleted("b", "python", "Cancelled by the user.", 1.0),
            ToolStarted("c", "shell", {"command": "ls"}),
            ToolCompleted(
                "c", "shell", "The user declined this call of 'shell'.", 0.0, is_error=True
            ),
            ToolStarted("d", "write_file", {"path": "x"}),
            ToolCompleted(
                "d", "write_file", "Not run: the tool needs approval.", 0.0, is_error=True
            ),
            ToolStarted("e", "python", {"code": "input()"}),
            ToolCompleted("e", "python", "Interrupted by the user.", 2.0, is_error=True),
        ]
    )
    assert d.cards["a"].status == "denied"
    assert d.cards["b"].status == "cancelled"
    assert d.cards["c"].status == "denied"
    assert d.cards["d"].status == "denied"
    assert d.cards["e"].status == "cancelled"


def test_calls_left_running_at_done_are_cancelled() -> None:
    d = TurnDisplay().apply_all([ToolStarted("a", "python", {}), Done("cancelled")])
    assert d.cards["a"].status == "cancelled"
    assert d.stop_reason == "cancelled"
    assert not d.running


def test_completion_without_start_still_shows_a_card() -> None:
    d = TurnDisplay().apply_all([ToolCompleted("x", "read_file", "data", 0.1)])
    assert d.cards["x"].status == "done"
    assert d.blocks == [d.cards["x"]]


def test_outputs_from_event_and_from_cell_thread_are_merged_once() -> None:
    png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
    figure = {"data": {"image/png": png, "text/plain": "<Figure>"}, "metadata": {}}
    # a table's HTML is shown as its text (only images we check, and text, are kept)
    table = {"data": {"text/plain": "   a\n0  1"}, "metadata": {}}
    d = TurnDisplay()
    d.add_outputs("c1", [figure])  # before the ToolStarted event was applied
    d.apply(ToolStarted("c1", "python", {"code": "plot()"}))
    assert d.cards["c1"].outputs == [figure]
    version = d.cards["c1"].version
    d.add_outputs("c1", [figure, {"data": {**table["data"], "text/html": "<table></table>"}, "metadata": {}}])
    assert d.cards["c1"].outputs == [figure, table]
    assert d.cards["c1"].version > version
    d.apply(ToolCompleted("c1", "python", "ok", 0.1, outputs=(figure, table)))
    assert d.cards["c1"].outputs == [figure, table]


def test_result_preview_is_cut() -> None:
    long = "\n".join(f"line {i}" for i in range(500))
    d = TurnDisplay().apply_all(
        [ToolStarted("c", "read_file", {}), ToolCompleted("c", "read_file", long, 0.1)]
    )
    preview = d.cards["c"].preview
    assert preview.startswith("line 0\nline 1")
    assert "line 499" not in preview
    assert f"{len(long):,} characters" in preview
    short = TurnDisplay().apply_all([ToolCompleted("s", "t", "ok\n", 0.0)])
    assert short.cards["s"].preview == "ok"


def test_reasoning_is_its_own_block() -> None:
    d = TurnDisplay().apply_all([Reasoning("think "), Reasoning("more"), Token("Answer")])
    assert isinstance(d.blocks[0], ReasoningBlock)
    assert d.blocks[0].text == "think more"
    assert type(d.blocks[1]) is TextBlock
    assert d.text == "Answer"


def test_notice_error_and_retry_blocks() -> None:
    d = TurnDisplay().apply_all(
        [
            Notice("This model cannot call tools."),
            Token("partial that will be dropped"),
            Retry(attempt=2, delay=1.5, reason="HTTP 503"),
            Token("Fresh answer"),
            ErrorEvent("Connection lost", "ProviderUnavailableError"),
            Done("error"),
        ]
    )
    kinds = [type(b) for b in d.blocks]
    assert kinds == [NoticeBlock, TextBlock, RetryBlock, TextBlock, ErrorBlock]
    dropped = d.blocks[1]
    assert isinstance(dropped, TextBlock) and dropped.discarded
    assert d.text == "Fresh answer"
    assert [b.kind for b in d.visible_blocks()] == ["notice", "retry", "text", "error"]
    retry = d.blocks[2]
    assert isinstance(retry, RetryBlock) and (retry.attempt, retry.delay) == (2, 1.5)
    assert d.stop_reason == "error"


def test_retry_keeps_text_of_earlier_steps() -> None:
    d = TurnDisplay().apply_all(
        [
            Token("Before the tool. "),
            ToolStarted("c", "python", {}),
            ToolCompleted("c", "python", "ok", 0.1),
            Token("half"),
            Retry(1, 0.5, "timeout"),
            Token("whole"),
        ]
    )
    assert d.text == "Before the tool. whole"


def test_usage_totals_cost_and_tokens_per_second() -> None:
    clock = FakeClock()
    d = TurnDisplay("openai:gpt", clock=clock, wall_clock=lambda: 1_700_000_000.0)
    d.apply(Usage(100, 40, 0.002))
    d.apply(ToolStarted("c", "python", {}))
    clock.now += 2.0
    d.apply(ToolCompleted("c", "python", "ok", 1.0))
    d.apply(Usage(150, 60))
    clock.now += 1.0
    assert d.running
    assert d.elapsed == 3.0
    d.apply(Done())
    clock.now += 50.0  # the clock stops at Done
    status = d.status()
    assert status.elapsed == 3.0
    assert (status.input_tokens, status.output_tokens) == (250, 100)
    assert status.cost == 0.002
    assert status.tokens_per_second == 100 / 2.0  # tool time is not generation time
    assert status.started_at == 1_700_000_000.0
    assert status.model == "openai:gpt"
    assert not status.running and status.stop_reason == "complete"


def test_no_usage_means_no_rate_and_no_cost() -> None:
    d = TurnDisplay().apply_all([Token("x"), Done()])
    assert d.tokens_per_second is None
    assert d.cost is None


def test_empty_turn() -> None:
    assert TurnDisplay().apply_all([Token("  \n"), Done()]).is_empty
    assert not TurnDisplay().apply_all([Token("x")]).is_empty
