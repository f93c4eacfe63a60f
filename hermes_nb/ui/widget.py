"""The live view of a run in a notebook: an ipywidgets tree updated in batches.

``handle`` only records the event in a :class:`TurnDisplay` (it may be called for
every token, from any thread). ``flush`` runs on the cell thread and sends only what
changed since the last flush: one ``HTML.value`` per changed block, so thousands of
tokens cost a few dozen comm messages. Long answers are cut at paragraph boundaries
into several HTML widgets, so a flush re-renders and re-sends only the growing end.
``finish`` swaps the widgets for the static transcript (widget state is not saved
with a notebook) by clearing the cell's output, and closes them.

While the cell thread runs a tool, the view pump calls ``flush`` from its own thread
(``draw lock``: never two flushes at once). A flush only sends widget value updates;
it never prints or displays, which from a thread would land in another cell.
``tool_output`` takes what the running tool prints, from the thread printing it.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hermes_nb.agent.events import Event
from hermes_nb.safety.safe_output import printable, safe_bundle
from hermes_nb.ui.fragments import (
    REASONING_ICON,
    block_html,
    card_body_html,
    card_title,
    status_html,
)
from hermes_nb.ui.live_output import live_output_html
from hermes_nb.ui.markdown import render_markdown, stable_split
from hermes_nb.ui.run_status import MIME_TYPE, RunInfo
from hermes_nb.ui.state import Block, ReasoningBlock, TextBlock, ToolCard, TurnDisplay
from hermes_nb.ui.transcript import mimebundle

__all__ = ["WidgetRenderer"]

# A text block is cut into a new HTML widget once its live end is this long.
SEGMENT_CHARS = 2000
# Re-render a block no more often than this many times its last render time, so
# Markdown rendering stays a small share of the cell thread's time.
RENDER_COST_FACTOR = 5.0


@dataclass
class _Snapshot:
    """What one flush needs from a changed block, copied under the lock."""

    index: int
    block: Block
    version: int
    text: str = ""
    card: ToolCard | None = None


class _TextView:
    """One text (or reasoning) block: a VBox of HTML segments, only the last one live."""

    def __init__(self, renderer: WidgetRenderer) -> None:
        self.r = renderer
        self.sealed = 0  # text before this offset is rendered in finished segments
        self.segments: list[Any] = []
        self.box = renderer._new(renderer._w.VBox, children=())
        self.outer: Any = None  # the Accordion around a reasoning block
        self.last_render = 0.0
        self.render_cost = 0.0
        self.hidden = False

    def update(self, text: str, discarded: bool, force: bool) -> bool:
        """Draw ``text``; returns False when skipped to keep rendering cheap."""
        r = self.r
        if discarded:
            if not self.hidden:
                r._set(self.box.layout, "display", "none")
                self.hidden = True
            return True
        now = time.perf_counter()
        if not force and now - self.last_render < RENDER_COST_FACTOR * self.render_cost:
            return False
        cut = stable_split(text, self.sealed, SEGMENT_CHARS)
        if cut > self.sealed:  # the live segment's text is now final: seal it
            done = render_markdown(text[self.sealed : cut])
            if self.segments:
                r._set(self.segments[-1], "value", done)
            else:
                self.segments.append(r._new(r._w.HTML, value=done))
            self.sealed = cut
            self._add_segment(render_markdown(text[cut:]))
        elif not self.segments:
            self._add_segment(render_markdown(text))
        else:
            r._set(self.segments[-1], "value", render_markdown(text[self.sealed :]))
        self.render_cost = time.perf_counter() - now
        self.last_render = time.perf_counter()
        return True

    def _add_segment(self, value: str) -> None:
        self.segments.append(self.r._new(self.r._w.HTML, value=value))
        self.r._set(self.box, "children", tuple(self.segments))


class _CardView:
    """A tool call: an Accordion whose title carries the status, body the details."""

    def __init__(self, renderer: WidgetRenderer, card: ToolCard) -> None:
        w = renderer._w
        self.r = renderer
        self.body = renderer._new(w.HTML, value=card_body_html(card))
        # What the tool prints while it runs: below the card (seen without opening it),
        # in the view only while there is something to show.
        self.live = renderer._new(w.HTML, value="")
        self.live_version = 0
        self.output = renderer._new(w.Output)
        self.shown_outputs = 0
        inner = renderer._new(w.VBox, children=(self.body, self.output))
        self.box = renderer._new(w.Accordion, children=(inner,), titles=(card_title(card),))
        self.update(card)

    def show_live(self, html: str) -> None:
        """What the running tool printed so far ("" once it ended: the result has it)."""
        r = self.r
        r._set(self.live, "value", html)
        children = tuple(r.body.children)
        placed = any(c is self.live for c in children)
        if html and not placed and any(c is self.box for c in children):
            at = next(i for i, c in enumerate(children) if c is self.box) + 1
            r._set(r.body, "children", children[:at] + (self.live,) + children[at:])
        elif not html and placed:
            r._set(r.body, "children", tuple(c for c in children if c is not self.live))

    def update(self, card: ToolCard) -> None:
        r = self.r
        r._set(self.box, "titles", (card_title(card),))
        r._set(self.body, "value", card_body_html(card))
        if card.status != "running" and self.live.value:
            self.show_live("")
        if len(card.outputs) > self.shown_outputs:
            new = tuple(_as_output(o) for o in card.outputs[self.shown_outputs :])
            # Replace the tuple (one message) rather than mutating: mutation never syncs,
            # and the Output context manager is not safe to use from other threads.
            r._set(self.output, "outputs", tuple(self.output.outputs) + new)
            self.shown_outputs = len(card.outputs)


def _as_output(bundle: dict[str, Any]) -> dict[str, Any]:
    """A ``{"data", "metadata"}`` bundle as an nbformat display_data output (only an
    image we show, and text: ``hermes_nb.safety.safe_output``)."""
    safe = safe_bundle(bundle)
    return {"output_type": "display_data", "data": safe["data"], "metadata": {}}


class WidgetRenderer:
    """Live widget view of one turn; see the module docstring for the update rules."""

    def __init__(self, model_name: str | None = None, *, own_cell: bool = True) -> None:
        """``own_cell``: the run is all the cell shows (a ``%%agent`` cell), so at the end
        the cell's output may be cleared; a line command's run shares its cell."""
        import ipywidgets

        self.own_cell = own_cell
        self._w = ipywidgets
        self.state = TurnDisplay(model_name)
        self.updates_sent = 0  # trait assignments that send a comm message
        self.widgets_created = 0  # each one also opens a comm
        self._created: list[Any] = []
        self._lock = threading.Lock()  # guards state: events and prints come from other threads
        self._draw_lock = threading.RLock()  # one flush at a time: the cell thread's or the pump's
        self._views: list[Any] = []  # parallel to state.blocks
        self._drawn: list[int] = []  # block version last drawn, parallel to state.blocks
        self._status_value = ""
        self._run_entry: dict[str, Any] | None = None
        self._handle: Any = None
        self._finished = False
        self.status = self._new(ipywidgets.HTML, value="")
        self.body = self._new(ipywidgets.VBox, children=())
        self.root = self._new(ipywidgets.VBox, children=(self.status, self.body))

    @property
    def messages_sent(self) -> int:
        """Comm messages this renderer caused: widget openings plus updates."""
        return self.updates_sent + self.widgets_created

    # -- widget bookkeeping -------------------------------------------------------

    def _new(self, cls: Any, **kwargs: Any) -> Any:
        widget = cls(**printable(kwargs))
        self._created.append(widget)
        self.widgets_created += 1
        return widget

    def _set(self, widget: Any, name: str, value: Any) -> None:
        value = printable(value)
        if getattr(widget, name) != value:
            setattr(widget, name, value)
            self.updates_sent += 1

    # -- Renderer protocol --------------------------------------------------------

    def bind_run(self, info: RunInfo) -> None:
        """Which run this view shows: put in the live view's display bundle so the
        JupyterLab extension can draw the run from its session file once the widget
        is gone (dead kernel, notebook reopened without widget state)."""
        self._run_entry = info.mime()

    def start(self) -> None:
        """Show the widget tree in the cell; keep the handle to replace it at the end."""
        from IPython.display import display

        with self._lock:
            self.state.restart_clock()
        self.flush(force=True)
        # Only the widget view, no text/plain: nbval ignores clear_output and compares
        # every MIME type but the widget view's, so this output then counts for
        # nothing there, as it is gone from the notebook nbclient or a frontend saves.
        live_view = {
            "application/vnd.jupyter.widget-view+json": {
                "version_major": 2,
                "version_minor": 0,
                "model_id": self.root.model_id,
            },
        }
        if self._run_entry is not None:
            live_view[MIME_TYPE] = self._run_entry
        self._handle = display(live_view, raw=True, display_id=True)

    def handle(self, event: Event) -> None:
        with self._lock:
            self.state.apply(event)

    def tool_output(self, call_id: str, stream: str, text: str) -> None:
        """What a running call prints, as it prints it (any thread); drawn by the next flush."""
        with self._lock:
            self.state.add_live_output(call_id, stream, text)

    def show_tool_outputs(self, call_id: str, outputs: Sequence[dict[str, Any]]) -> None:
        """Put a tool's rich outputs (figures, tables) into its card."""
        with self._lock:
            self.state.add_outputs(call_id, outputs)
        self.flush()

    def flush(self, force: bool = False) -> None:
        """Send what changed since the last flush: from the cell thread, or from the
        view pump while the cell thread runs a tool."""
        with self._draw_lock:
            if self._finished:
                return
            with self._lock:
                changed = self._collect()
                live = self._collect_live()
                status = status_html(self.state.status(), live=True)
            for snap in changed:
                if self._draw(snap, force):
                    self._drawn[snap.index] = snap.version
            for view, version, pieces, earlier in live:
                view.show_live(live_output_html(pieces, earlier))
                view.live_version = version
            if status != self._status_value:
                self._set(self.status, "value", status)
                self._status_value = status

    def finish(self, stop_reason: str | None = None) -> None:
        """Final flush, then leave the static transcript in place of the widgets."""
        with self._draw_lock:
            if self._finished:
                return
            with self._lock:
                self.state.finish(stop_reason or "complete")
            self.flush(force=True)
            self._finished = True
        with self._lock:
            bundle = mimebundle(self.state)
        # The transcript takes the live view's place through clear_output, not a
        # display update: nbval ignores update_display_data, while JupyterLab, nbclient
        # and nbval all apply clear_output, so each stores the transcript alone, with
        # no empty leftover. ``wait`` clears just before the transcript arrives: no
        # flicker. Nothing else of the run's is in the cell: notices are in the view.
        from IPython.display import clear_output, display

        if self._handle is not None and not self.own_cell:
            # Other outputs share the cell: keep them, and put the transcript in the
            # live view's place (nbval, ignoring the update, then sees the live view).
            self._handle.update(bundle, raw=True)
        else:
            if self._handle is not None:
                clear_output(wait=True)
            display(bundle, raw=True)
        self.close()

    def close(self) -> None:
        """Close every widget this renderer opened (frees their comms)."""
        with self._draw_lock:
            self._finished = True
        for widget in self._created:
            for part in (getattr(widget, "layout", None), getattr(widget, "style", None), widget):
                if part is not None and getattr(part, "comm", None) is not None:
                    part.close()
        self._created.clear()

    # -- drawing -----------------------------------------------------------------

    def _collect(self) -> list[_Snapshot]:
        """Blocks whose version moved since they were drawn (caller holds the lock)."""
        blocks = self.state.blocks
        while len(self._drawn) < len(blocks):
            self._drawn.append(-1)
        out = []
        for index, block in enumerate(blocks):
            if block.version == self._drawn[index] and index < len(self._views):
                continue
            snap = _Snapshot(index=index, block=block, version=block.version)
            if isinstance(block, TextBlock):
                snap.text = block.text
            elif isinstance(block, ToolCard):
                snap.card = copy.copy(block)
                snap.card.outputs = list(block.outputs)
            out.append(snap)
        return out

    def _collect_live(self) -> list[tuple[_CardView, int, list[tuple[str, str]], int]]:
        """Running cards whose printed output moved since drawn (caller holds the lock)."""
        out = []
        for index, view in enumerate(self._views):
            block = self.state.blocks[index]
            if not isinstance(view, _CardView) or not isinstance(block, ToolCard) or block.status != "running":
                continue
            if block.live.version != view.live_version:
                pieces, earlier = block.live.snapshot()
                out.append((view, block.live.version, pieces, earlier))
        return out

    def _draw(self, snap: _Snapshot, force: bool) -> bool:
        block = snap.block
        if snap.index >= len(self._views):
            view = self._make_view(block, snap)
            self._views.append(view)
            self._set(self.body, "children", tuple(self.body.children) + (_root_of(view),))
            if not isinstance(view, _TextView):
                return True
        view = self._views[snap.index]
        if isinstance(view, _TextView):
            assert isinstance(block, TextBlock)
            return view.update(snap.text, block.discarded, force)
        if isinstance(view, _CardView) and snap.card is not None:
            view.update(snap.card)
        return True

    def _make_view(self, block: Block, snap: _Snapshot) -> Any:
        w = self._w
        if isinstance(block, ReasoningBlock):
            view = _TextView(self)
            accordion = self._new(w.Accordion, children=(view.box,), titles=(f"{REASONING_ICON} Reasoning",))
            view.outer = accordion
            return view
        if isinstance(block, TextBlock):
            return _TextView(self)
        if isinstance(block, ToolCard) and snap.card is not None:
            return _CardView(self, snap.card)
        return self._new(w.HTML, value=block_html(block))  # notices, errors, retries


def _root_of(view: Any) -> Any:
    if isinstance(view, _TextView):
        return view.outer if view.outer is not None else view.box
    if isinstance(view, _CardView):
        return view.box
    return view
