"""Static transcripts: one turn (Markdown, HTML, plain text) and a whole session."""

from __future__ import annotations

import re

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
from hermes_nb.ui.fragments import VOLATILE_CLASS
from hermes_nb.ui.state import TurnDisplay
from hermes_nb.ui.transcript import (
    EMPTY_ANSWER,
    history_markdown,
    history_mimebundle,
    mimebundle,
    render_history,
    to_html,
    to_markdown,
    to_plain,
)

FIGURE = {"data": {"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"}, "metadata": {}}


class StepClock:
    """Each reading is ``step`` seconds later: runs with other steps differ in time."""

    def __init__(self, step: float) -> None:
        self.now = 1_700_000_000.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def events() -> list:
    return [
        Reasoning("Need the data first."),
        Token("I'll load it. "),
        ToolStarted("c1", "python", {"code": "df = load()\ndf.plot()"}),
        ToolCompleted("c1", "python", "<AxesSubplot>", 1.25, outputs=(FIGURE,)),
        Token("Revenue peaked in **March** <script>alert(1)</script>."),
        Usage(1500, 80, 0.0021),
        Done(),
    ]


def turn(step: float = 1.0) -> TurnDisplay:
    return TurnDisplay(
        "openai:gpt-4.1-mini", clock=StepClock(step), wall_clock=StepClock(step)
    ).apply_all(events())


def test_markdown_transcript() -> None:
    md = to_markdown(turn())
    assert "I'll load it." in md
    assert "Revenue peaked in **March** &lt;script>alert(1)&lt;/script>." in md
    assert "<details><summary>⚙ python(df = load() … +1 line) ✓ done</summary>" in md
    assert "```python\ndf = load()\ndf.plot()\n```" in md  # code as code, not a JSON string
    assert "&lt;AxesSubplot&gt;" not in md and "<AxesSubplot>" in md  # inside a code fence
    assert "*(1 output: image/png)*" in md
    assert "> ∴ Need the data first." in md
    assert md.rstrip().endswith("*openai:gpt-4.1-mini · 1,500 in / 80 out · $0.0021*")
    assert md.index("I'll load it.") < md.index("<details>") < md.index("Revenue peaked")


def test_html_transcript() -> None:
    html = to_html(turn())
    assert html.startswith('<div class="hermes-nb-turn"')
    assert "<script" not in html
    assert "<strong>March</strong>" in html
    card = re.search(
        r'<details class="hermes-nb-tool hermes-nb-tool-done".*?</details>', html, re.S
    )
    assert card is not None
    assert "<summary>⚙ python(df = load() … +1 line) ✓ done</summary>" in card.group(0)
    assert "&lt;AxesSubplot&gt;" in card.group(0)
    assert 'src="data:image/png;base64,iVBORw0KGgo="' in card.group(0)
    assert "1.2s" in card.group(0) or "1.3s" in card.group(0)
    status = re.search(r'<div class="hermes-nb-status".*?</div>', html, re.S)
    assert status is not None
    assert "1,500 in / 80 out" in status.group(0) and "$0.0021" in status.group(0)
    assert "tok/s" not in status.group(0)  # 80 tokens in no time at all: no rate to speak of
    assert '<details class="hermes-nb-reasoning"' in html


def test_times_only_in_volatile_spans() -> None:
    a, b = to_html(turn(1.0)), to_html(turn(7.0))
    assert a != b  # elapsed and tokens/s differ
    strip = re.compile(rf'<span class="{VOLATILE_CLASS}">[^<]*</span>')
    assert strip.sub("", a) == strip.sub("", b)


def test_plain_and_markdown_are_deterministic() -> None:
    one, two = mimebundle(turn(1.0)), mimebundle(turn(9.0))
    assert one["text/plain"] == two["text/plain"]
    assert one["text/markdown"] == two["text/markdown"]
    assert set(one) == {"text/plain", "text/markdown", "text/html"}
    plain = one["text/plain"]
    assert plain == (
        "∴ Need the data first.\n\n"
        "I'll load it.\n\n"
        "⚙ python(df = load() … +1 line) ✓ done\n"
        "    <AxesSubplot>\n"
        "    (1 rich output(s))\n\n"
        "Revenue peaked in **March** <script>alert(1)</script>."
    )
    with_status = to_plain(turn(), status=True)
    assert with_status.endswith("[openai:gpt-4.1-mini · 1,500 in / 80 out · $0.0021]")


def test_errors_notices_retries_are_visible() -> None:
    d = TurnDisplay("m").apply_all(
        [
            Notice("This model has no tool support."),
            Token("dropped"),
            Retry(2, 0.5, "HTTP 503"),
            ErrorEvent("Rate limit <exceeded>", "RateLimitError"),
            Done("error"),
        ]
    )
    html = to_html(d)
    assert 'class="hermes-nb-error"' in html and "Rate limit &lt;exceeded&gt;" in html
    assert "border:1px solid #d33" in html
    assert "This model has no tool support." in html
    assert "Retrying (attempt 2)" in html
    assert "dropped" not in html
    plain = to_plain(d)
    assert "Error (RateLimitError): Rate limit <exceeded>" in plain
    assert "dropped" not in plain
    md = to_markdown(d)
    assert "> **Error** (RateLimitError): Rate limit &lt;exceeded&gt;" in md
    assert "· error*" in md


def test_empty_turn_says_so() -> None:
    d = TurnDisplay("m").apply_all([Done()])
    assert EMPTY_ANSWER in to_plain(d)
    assert EMPTY_ANSWER in to_html(d)
    assert EMPTY_ANSWER in to_markdown(d)


def test_failed_and_unfinished_cards() -> None:
    d = TurnDisplay("m").apply_all(
        [
            ToolStarted("a", "read_file", {"path": "missing.txt"}),
            ToolCompleted("a", "read_file", "FileNotFoundError: missing.txt", 0.01, is_error=True),
            ToolStarted("b", "python", {"code": "sleep(100)"}),
            Done("cancelled"),
        ]
    )
    html = to_html(d)
    assert "hermes-nb-tool-failed" in html and "hermes-nb-tool-cancelled" in html
    assert "✗ failed" in to_plain(d) and "■ cancelled" in to_plain(d)
    assert "cancelled*" in to_markdown(d)


def test_code_fence_in_result_does_not_break_markdown() -> None:
    d = TurnDisplay("m").apply_all(
        [
            ToolStarted("a", "read_file", {"path": "x.md"}),
            ToolCompleted("a", "read_file", "```\ncode\n```", 0.1),
        ]
    )
    md = to_markdown(d)
    assert "````\n```\ncode\n```\n````" in md


HISTORY = [
    {"role": "user", "content": "Plot <b>sales</b>", "at": 1.0},
    {
        "role": "assistant",
        "content": "Let me look.",
        "tool_calls": [
            {
                "id": "c1",
                "type": "function",
                "function": {"name": "python", "arguments": '{"code": "plot()"}'},
            },
            {
                "id": "c2",
                "type": "function",
                "function": {"name": "shell", "arguments": '{"command": "ls"}'},
            },
        ],
    },
    {"role": "tool", "tool_call_id": "c1", "content": "<Figure>"},
    {"role": "assistant", "content": "Here it is."},
    {"role": "marker", "kind": "cancelled", "content": "Cancelled by the user.", "at": 2.0},
    {"role": "user", "content": "Again", "recovered": True},
    {
        "role": "marker",
        "kind": "interrupted",
        "content": "Interrupted by kernel restart.",
        "at": 3.0,
    },
]


def test_render_history() -> None:
    md = render_history(HISTORY, title="Sales")
    assert md.startswith("**Sales**\n\n**1. User**\n\nPlot &lt;b>sales&lt;/b>")
    assert md.count("**Assistant**") == 1  # one label per assistant turn
    assert not any(line.startswith("#") for line in md.splitlines())  # no headings
    assert "Let me look." in md and "Here it is." in md
    assert "<summary>⚙ python(plot())</summary>" in md
    assert "```\n<Figure>\n```" in md  # the result inside its call's card
    assert md.count("<Figure>") == 1
    assert "⚙ shell(ls) — no result" in md
    assert "> **cancelled**: Cancelled by the user." in md
    assert "**2. User** *(recovered after a kernel restart)*\n\nAgain" in md
    assert "```python\nplot()\n```" in md and "```bash\nls\n```" in md  # code, not JSON
    assert "> **interrupted**: Interrupted by kernel restart." in md
    assert md.index("Let me look.") < md.index("<Figure>") < md.index("Here it is.")


def test_render_history_edge_cases() -> None:
    long = "x" * 5000
    msgs = [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "a", "type": "function", "function": {"name": "t", "arguments": "not json"}}
            ],
        },
        {"role": "tool", "tool_call_id": "a", "content": long},
        {"role": "tool", "tool_call_id": "orphan", "content": "lost"},
        {
            "role": "user",
            "content": [{"type": "text", "text": "look"}, {"type": "image_url", "image_url": {}}],
        },
    ]
    md = render_history(msgs)
    assert "⚙ t(…)" in md and "not json" in md
    assert long not in md and "5,000 characters" in md
    assert long in render_history(msgs, full_results=True)
    assert long in history_markdown(msgs)
    bundle = history_mimebundle(msgs, title="T")
    assert bundle["text/markdown"] == render_history(msgs, title="T")
    assert "<details>" not in bundle["text/plain"] and "⚙ t(…)" in bundle["text/plain"]
    assert "<h1" not in bundle["text/html"] and "<b>T</b>" in bundle["text/html"]
    assert "**Tool result** (`orphan`)" in md and "lost" in md
    assert "look\n\n*[image_url]*" in md
    assert render_history([]) == "\n"


LONG_CODE = "\n".join(f"value_{i} = {i} * 2  # line {i}" for i in range(200))


def test_code_arguments_are_highlighted_blocks_that_scroll() -> None:
    from hermes_nb.ui.fragments import card_body_html
    from hermes_nb.ui.state import ToolCard

    html = card_body_html(ToolCard(name="python", arguments={"code": LONG_CODE}, status="done", result="ok"))
    block = re.search(r'<pre class="hermes-nb-code" style="([^"]*)">(.*?)</pre>', html, re.S)
    assert block is not None
    style, body = block.groups()
    assert "max-height" in style and "overflow:auto" in style  # a long call scrolls in the card
    assert "\\n" not in body and body.count("\n") >= 199  # real lines, not a JSON string
    assert "<span style=" in body  # coloured by Pygments
    assert "value_199" in re.sub(r"<[^>]+>", "", body)


def test_shell_and_write_file_arguments_are_code_too() -> None:
    from hermes_nb.ui.fragments import arguments_html, code_argument

    assert code_argument("shell", {"command": "ls -l"}) == ("command", "ls -l", "bash")
    assert code_argument("write_file", {"path": "a.py", "content": "x = 1"}) == ("content", "x = 1", "python")
    assert code_argument("write_file", {"path": "notes", "content": "hi"}) == ("content", "hi", "")
    assert code_argument("read_file", {"path": "a.py"}) is None
    html = arguments_html("write_file", {"path": "a.py", "content": "x = 1\ny = 2"})
    assert "&quot;path&quot;: &quot;a.py&quot;" in html  # the other arguments stay JSON
    assert '<pre class="hermes-nb-code"' in html and "\\n" not in html
    plain = arguments_html("write_file", {"path": "notes.txt", "content": "<b>hi</b>"})
    assert "&lt;b&gt;hi&lt;/b&gt;" in plain  # unknown language: escaped, not dropped


def test_a_call_title_shows_the_first_line_of_code() -> None:
    from hermes_nb.ui.fragments import call_summary

    assert call_summary("python", {"code": "\nx = 1\ny = 2\nz = 3\n"}) == "python(x = 1 … +2 lines)"
    assert call_summary("shell", {"command": "ls -l"}) == "shell(ls -l)"
    assert call_summary("write_file", {"path": "a.py", "content": "x = 1\ny = 2"}) == "write_file(path='a.py': x = 1 … +1 line)"
    assert call_summary("read_file", {"path": "a.py"}) == "read_file(path='a.py')"
    assert "\\n" not in call_summary("python", {"code": "a\n" * 50})
