"""WidgetRenderer with real ipywidgets (no kernel: widgets talk to a counting comm)."""

from __future__ import annotations

import re
from typing import Any

import ipywidgets as widgets
from IPython.utils.capture import CapturedIO

from hermes_nb.agent.events import Done, ErrorEvent, Token, ToolCompleted, ToolStarted, Usage
from hermes_nb.ui.widget import WidgetRenderer
from tests.ui_helpers import comm_log_fixture, displayed_fixture  # noqa: F401  (fixtures)


def walk(widget: Any) -> list[Any]:
    """Every widget in a tree, depth first."""
    found = [widget]
    for child in getattr(widget, "children", ()):
        found += walk(child)
    return found


def html_values(root: Any) -> str:
    return "".join(w.value for w in walk(root) if isinstance(w, widgets.HTML))


def visible_text(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html)


class ValueWatcher:
    """Counts ``value`` changes of every HTML widget in the tree, independently of the renderer."""

    def __init__(self) -> None:
        self.changes = 0
        self.seen: set[int] = set()

    def attach(self, root: Any) -> None:
        for w in walk(root):
            if isinstance(w, widgets.HTML) and id(w) not in self.seen:
                self.seen.add(id(w))
                w.observe(self._changed, names="value")

    def _changed(self, change: dict[str, Any]) -> None:
        self.changes += 1


def test_2000_tokens_make_few_updates(
    comm_log: list[dict[str, Any]], displayed: CapturedIO
) -> None:
    r = WidgetRenderer("test:model")
    r.start()
    watcher = ValueWatcher()
    watcher.attach(r.root)
    words = [f"word{i} " + ("\n\n" if i % 40 == 39 else "") for i in range(2000)]
    before, updates_before = len(comm_log), r.updates_sent
    for i, word in enumerate(words):
        r.handle(Token(word))
        if i % 100 == 99:
            r.flush()
            watcher.attach(r.root)  # segments created by this flush
    r.flush(force=True)
    watcher.attach(r.root)

    update_msgs = [
        m for m in comm_log[before:] if m["data"] and m["data"].get("method") == "update"
    ]
    updates = r.updates_sent - updates_before
    assert 1 <= watcher.changes <= updates <= 60
    assert len(update_msgs) == updates
    assert len(comm_log) - before < 120  # opens of new segments included, never one per token

    shown = visible_text(html_values(r.root))
    for i in (0, 1, 500, 1234, 1999):
        assert re.search(rf"\bword{i}\b", shown)
    assert shown.count("word") == 2000


def test_unflushed_tokens_send_nothing(
    comm_log: list[dict[str, Any]], displayed: CapturedIO
) -> None:
    r = WidgetRenderer("m")
    r.start()
    sent = len(comm_log)
    for _ in range(500):
        r.handle(Token("x"))
    assert len(comm_log) == sent
    r.flush()
    r.flush()  # nothing changed: nothing sent
    assert r.updates_sent <= 4
    assert "x" * 500 in html_values(r.root)


def test_long_answer_is_split_into_segments(
    comm_log: list[dict[str, Any]], displayed: CapturedIO
) -> None:
    r = WidgetRenderer("m")
    r.start()
    paragraph = "A sentence of the answer, long enough to matter. " * 4 + "\n\n"
    for i in range(200):
        r.handle(Token(f"{i}: " + paragraph))
        r.flush(force=True)
    segments = [w for w in walk(r.body) if isinstance(w, widgets.HTML)]
    assert len(segments) > 5
    # only the live end is re-sent, so no single update carries the whole answer
    longest = max(
        len(m["data"]["state"].get("value", ""))
        for m in comm_log
        if m["data"] and "state" in m["data"]
    )
    assert longest < len("".join(s.value for s in segments)) / 3
    text = visible_text(html_values(r.body))
    assert all(f"{i}: A sentence" in text for i in range(200))


def test_tool_card_shows_call_and_outputs(
    comm_log: list[dict[str, Any]], displayed: CapturedIO
) -> None:
    r = WidgetRenderer("m")
    r.start()
    r.handle(Token("Plotting."))
    r.handle(ToolStarted("c1", "python", {"code": "plt.plot([1, 2])"}))
    r.flush()
    cards = [w for w in walk(r.body) if isinstance(w, widgets.Accordion)]
    assert len(cards) == 1
    card = cards[0]
    assert "python" in card.titles[0] and "running" in card.titles[0]
    assert "plt.plot" in card.titles[0]

    figure = {"data": {"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"}, "metadata": {}}
    r.show_tool_outputs("c1", [figure])
    output = next(w for w in walk(card) if isinstance(w, widgets.Output))
    assert output.outputs == (
        {"output_type": "display_data", "data": figure["data"], "metadata": {}},
    )
    r.handle(ToolCompleted("c1", "python", "[<Line2D>]", 0.42, outputs=(figure,)))
    r.handle(Token("Done."))
    r.flush()
    assert "done" in card.titles[0] and "0.4s" in card.titles[0]
    body = next(w for w in walk(card) if isinstance(w, widgets.HTML))
    assert "plt.plot([1, 2])" in visible_text(body.value)
    assert "&lt;Line2D&gt;" in body.value  # result preview, escaped
    assert "0.4s" in body.value
    assert len(output.outputs) == 1  # the same figure from the event is not shown twice
    # text after the tool is a new block below the card
    kinds = [type(c).__name__ for c in r.body.children]
    assert kinds == ["VBox", "Accordion", "VBox"]


def test_error_box_and_status_line(comm_log: list[dict[str, Any]], displayed: CapturedIO) -> None:
    r = WidgetRenderer("openai:gpt-4.1-mini")
    r.start()
    r.handle(Usage(1200, 345, 0.0123))
    r.handle(ErrorEvent("The server closed the connection.", "ProviderUnavailableError"))
    r.flush()
    assert "openai:gpt-4.1-mini" in r.status.value
    assert "1,200 in / 345 out" in r.status.value
    assert "$0.0123" in r.status.value
    errors = [
        w for w in walk(r.body) if isinstance(w, widgets.HTML) and "hermes-nb-error" in w.value
    ]
    assert len(errors) == 1
    assert "The server closed the connection." in errors[0].value


def test_finish_empties_the_live_view_and_displays_the_transcript(
    comm_log: list[dict[str, Any]], displayed: CapturedIO
) -> None:
    r = WidgetRenderer("m")
    r.start()
    assert "application/vnd.jupyter.widget-view+json" in displayed.outputs[0].data
    r.handle(Token("The answer is **42**."))
    r.handle(ToolStarted("c", "python", {"code": "6*7"}))
    r.handle(ToolCompleted("c", "python", "42", 0.1))
    r.handle(Done())
    r.finish("complete")

    emptied, final = displayed.outputs[-2:]
    assert emptied.update and emptied.data == {"text/plain": ""}  # the live view is emptied ...
    assert not final.update  # ... and the transcript is a display of its own (nbval sees it)
    assert set(final.data) == {"text/plain", "text/markdown", "text/html"}
    assert "<strong>42</strong>" in final.data["text/html"]
    assert "<details" in final.data["text/html"]
    assert "The answer is **42**." in final.data["text/plain"]
    # every widget (and its layout/style) was closed, freeing its comm
    assert all(w.comm is None for w in walk(r.root))
    closes = [m for m in comm_log if m["msg_type"] == "comm_close"]
    assert len(closes) >= len(walk(r.root))
    r.finish()  # twice is harmless
    r.flush()
    assert displayed.outputs[-1].data == final.data


def test_discarded_text_is_hidden_after_retry(
    comm_log: list[dict[str, Any]], displayed: CapturedIO
) -> None:
    from hermes_nb.agent.events import Retry

    r = WidgetRenderer("m")
    r.start()
    r.handle(Token("half an ans"))
    r.flush()
    r.handle(Retry(2, 1.0, "HTTP 502"))
    r.handle(Token("a whole answer"))
    r.flush()
    first = r.body.children[0]
    assert first.layout.display == "none"
    assert "Retrying (attempt 2)" in html_values(r.body)
