"""A tool card says what happened to its call: the kernel stopping under it is
"interrupted" (as the run's marker says), the stop button "cancelled", a change the
user rejected in its diff "rejected", a call refused by a policy or at a prompt
"denied"."""

from __future__ import annotations

import re
from pathlib import Path

from dead_run import leave_dead_run
from turn_harness import on_disk

from hermes_nb import models, streaming
from hermes_nb.agent.events import ToolCompleted, ToolStarted
from hermes_nb.kernel.notebook_live import edit_result
from hermes_nb.kernel.turn_history import CANCELLED_RESULT, INTERRUPTED_RESULT
from hermes_nb.ui.session_html import messages_html
from hermes_nb.ui.state import TurnDisplay
from hermes_nb.ui.transcript import to_html, to_plain


def statuses(html: str) -> list[str]:
    return re.findall(r'<details class="hermes-nb-tool hermes-nb-tool-(\w+)"', html)


def test_a_call_cut_short_by_a_killed_kernel_reads_interrupted_after_restore(session_dir: Path) -> None:
    sid = models.new_session(title="Analysis", notebook="nb.ipynb").session_id
    leave_dead_run(sid)  # c1 answered, c2 running when the kernel died
    models.SESSIONS.clear()
    streaming.restore_interrupted("nb.ipynb")
    messages = on_disk(sid)["messages"]
    html = messages_html(messages)
    assert statuses(html) == ["done", "interrupted"]
    assert "↯ interrupted" in html and "■" not in html
    assert messages[-1]["kind"] == "interrupted"  # the card and the marker agree


def test_a_killed_kernel_and_the_stop_button_read_differently_in_a_live_view() -> None:
    d = TurnDisplay().apply_all([
        ToolStarted("k", "python", {"code": "train()"}),
        ToolCompleted("k", "python", INTERRUPTED_RESULT, 5.0, is_error=True),
        ToolStarted("s", "python", {"code": "train()"}),
        ToolCompleted("s", "python", CANCELLED_RESULT, 5.0, is_error=True),
        ToolStarted("b", "python", {"code": "input()"}),
        ToolCompleted("b", "python", "Interrupted by the user.", 2.0, is_error=True),
    ])  # fmt: skip
    assert [d.cards[c].status for c in "ksb"] == ["interrupted", "cancelled", "cancelled"]
    assert "↯ interrupted" in to_plain(d) and "■ cancelled" in to_plain(d)


def test_an_edit_the_user_rejected_reads_rejected_not_denied() -> None:
    rejected = edit_result({"status": "rejected"}, 2)
    declined = "The user declined this call of 'shell'. Do not repeat it without asking."
    d = TurnDisplay().apply_all([
        ToolStarted("e", "edit_cell", {"index": 2, "source": "x = 1"}),
        ToolCompleted("e", "edit_cell", rejected.text, 0.1, is_error=rejected.is_error),
        ToolStarted("s", "shell", {"command": "ls"}),
        ToolCompleted("s", "shell", declined, 0.0, is_error=True),
    ])  # fmt: skip
    assert (d.cards["e"].status, d.cards["s"].status) == ("rejected", "denied")
    assert "⊘ rejected" in to_html(d) and "⊘ denied" in to_html(d)
    saved = messages_html([
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "e", "type": "function", "function": {"name": "edit_cell", "arguments": "{}"}},
        ]},
        {"role": "tool", "tool_call_id": "e", "content": rejected.text},
    ])  # fmt: skip
    assert statuses(saved) == ["rejected"]
