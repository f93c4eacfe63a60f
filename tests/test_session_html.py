"""Saved messages drawn as HTML (sidebar transcript, repaired dead run, history)."""

from __future__ import annotations

import json
import re

import pytest

from hermes_nb.ui.session_html import marker_state, messages_html, session_html


def call(call_id: str, name: str, **arguments: object) -> dict[str, object]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}


def card_classes(html: str) -> list[str]:
    return re.findall(r'<details class="hermes-nb-tool hermes-nb-tool-(\w+)"', html)


@pytest.mark.parametrize(
    ("result", "status"),
    [
        ("[stdout]\n42", "done"),
        ("[stdout]\nhalf\n[error]\nZeroDivisionError: division by zero", "failed"),
        ("[error]\nNameError", "failed"),
        ("Interrupted: the kernel stopped before this tool finished.", "interrupted"),
        ("Cancelled by the user before this tool finished.", "cancelled"),
        ("The user declined this call.", "denied"),
        ("The user rejected the change: cell 2 is unchanged.", "rejected"),
    ],
)
def test_a_saved_call_gets_its_status_from_its_result(result: str, status: str) -> None:
    html = messages_html([
        {"role": "assistant", "content": None, "tool_calls": [call("c1", "python", code="1/0")]},
        {"role": "tool", "tool_call_id": "c1", "content": result},
    ])  # fmt: skip
    assert card_classes(html) == [status]


def test_a_call_without_result_is_running_only_while_live() -> None:
    msgs = [{"role": "assistant", "content": "Slow part.", "tool_calls": [call("c1", "shell", command="sleep 9")]}]
    assert card_classes(messages_html(msgs, live=True)) == ["running"]
    assert card_classes(messages_html(msgs)) == ["interrupted"]  # the kernel stopped under it


def test_model_text_is_rendered_safely_and_labels_are_not_headings() -> None:
    html = session_html(
        [
            {"role": "user", "content": "<img src=x onerror=alert(1)>", "recovered": True},
            {"role": "assistant", "content": "# Big\n\n<script>alert(1)</script> **ok**"},
            {"role": "marker", "kind": "interrupted", "content": "Run <b>stopped</b>."},
        ],
        title="T <i>",
    )
    assert "<script" not in html and "<img" not in html and "<b>stopped" not in html
    assert "<strong>ok</strong>" in html and "recovered after a kernel restart" in html
    assert "<b>T &lt;i&gt;</b>" in html
    assert html.count("<h1") == 1  # only the model's own Markdown heading, none of ours


def test_marker_state() -> None:
    assert marker_state([]) == "done"
    assert marker_state([{"role": "marker", "kind": "interrupted"}]) == "interrupted"
    assert marker_state([{"role": "marker", "kind": "error"}]) == "failed"
    assert marker_state([{"role": "marker", "kind": "turn_limit"}]) == "done"
    assert marker_state([{"role": "assistant", "content": "a"}]) == "done"


def test_a_call_saved_as_failed_reads_failed_wherever_the_session_is_shown() -> None:
    from hermes_nb.ui.history_text import render_history_plain
    from hermes_nb.ui.transcript import render_history

    messages = [
        {"role": "user", "content": "Look it up."},
        {"role": "assistant", "content": "", "tool_calls": [call("c1", "wiki__search", q="x"), call("c2", "wiki__search", q="y")]},
        {"role": "tool", "tool_call_id": "c1", "content": "upstream said no", "is_error": True},
        {"role": "tool", "tool_call_id": "c2", "content": "upstream said yes"},
    ]
    assert card_classes(messages_html(messages)) == ["failed", "done"]
    summaries = [line for line in render_history(messages).splitlines() if "<summary>" in line]
    assert [line.endswith("— failed</summary>") for line in summaries] == [True, False]
    plain = render_history_plain(messages)
    assert [line.endswith("— failed") for line in plain.splitlines() if line.strip().startswith("⚙")] == [True, False]
