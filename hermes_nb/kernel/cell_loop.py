"""The cell thread's side of a run: start, pump events, finish.

The kernel's main thread blocks in the ``%%agent`` cell while the agent works on
its own thread. Only this thread touches widgets and the user's namespace, so tools
that need the kernel are handed over here through the same queue as the events;
and only this thread receives ``KeyboardInterrupt`` (the stop button), which becomes
a cancel. Every wait has a timeout so an interrupt is always noticed.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from hermes_nb.agent.events import ErrorEvent, Event, Notice, Token
from hermes_nb.agent.loop import Agent
from hermes_nb.agent.tools.registry import ToolOutput
from hermes_nb.kernel.run_lifecycle import Run, cancel_stream
from hermes_nb.kernel.view_pump import ViewPump
from hermes_nb.safety.redact import redact
from hermes_nb.ui import LiveRenderer, Renderer
from hermes_nb.ui.run_status import RunInfo, RunStatusComm, final_state
from hermes_nb.ui.state import CANCELLING, TurnDisplay

__all__ = ["RunOutcome", "drive"]

log = logging.getLogger("hermes_nb.cell")

#: how long the agent may take to stop after a cancel before the cell gives up on it
CANCEL_GRACE = 3.0


@dataclass
class _KernelCall:
    """A tool call waiting to run on the cell thread."""

    fn: Callable[[], Any]
    started: bool = False
    result: Any = None
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)


class _Inbox:
    """The queue from the agent thread to the cell thread, with tokens coalesced.

    A token does not wake the cell thread (but the run's first): tokens collect in
    a buffer that becomes one ``Token`` when the cell thread next looks, or just
    before any other item is queued, so the order of text and tool events is kept.
    20,000 tokens then cost the cell thread tens of wake-ups, not 20,000.
    """

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._tokens: list[str] = []
        self._first_token = True
        self._lock = threading.Lock()

    def put(self, item: Any) -> None:
        with self._lock:
            self._move_tokens()
            self._queue.put(item)

    def put_token(self, text: str) -> None:
        with self._lock:
            if self._first_token:  # the first one wakes the cell thread: it may show the view
                self._first_token = False
                self._queue.put(Token(text))
                return
            self._tokens.append(text)

    def get(self, timeout: float) -> Any:
        """The next item, or the text gathered meanwhile, or None."""
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            with self._lock:
                self._move_tokens()
            try:
                return self._queue.get_nowait()
            except queue.Empty:
                return None

    def _move_tokens(self) -> None:
        if self._tokens:
            self._queue.put(Token("".join(self._tokens)))
            self._tokens.clear()


@dataclass
class _End:
    result: Any = None
    error: BaseException | None = None


@dataclass
class RunOutcome:
    stop_reason: str
    result: Any
    written: bool


class _View:
    """The run's renderer, built once the request is on its way.

    Building the live view (a dozen widgets, each opening a comm) and the run status
    comm takes the cell thread 3-10 ms of CPU. Done before the agent thread sends
    the request, it delayed the request; done at the same time, it took the GIL from
    the thread sending it. So the cell thread first waits (releasing the GIL) for the
    agent's first event (its first token wakes it), or ``VIEW_DELAY``, whichever
    comes first: a person sees the view within a tenth of a second either way, and
    the first token no later than the next flush. Events that come before the view
    exists (a compression notice) are handed to it when it is built, and so is what
    a tool printed meanwhile (a quick reply can start a tool while the view is built).
    """

    def __init__(self, run: Run, renderer: Renderer | Callable[[], Renderer]) -> None:
        self._run = run
        self._make: Callable[[], Renderer]
        if hasattr(renderer, "handle"):  # a renderer, not a function that makes one
            ready = cast(Renderer, renderer)
            self._make = lambda: ready
        else:
            self._make = cast(Callable[[], Renderer], renderer)
        self._early: list[Event] = []
        self._early_output: list[tuple[str, str, str]] = []
        self._output_lock = threading.Lock()  # tools print from their own threads
        self.renderer: Renderer | None = None
        self.status: RunStatusComm | None = None

    def handle(self, event: Event) -> None:
        if self.renderer is None:
            self._early.append(event)
        else:
            self.renderer.handle(event)

    def tool_output(self, call_id: str, stream: str, text: str) -> None:
        """What a running tool prints, from the printing thread: to a renderer that shows it."""
        with self._output_lock:
            renderer = self.renderer
            if renderer is None:
                if len(self._early_output) < EARLY_OUTPUT_WRITES:
                    self._early_output.append((call_id, stream, text))
                return
        if isinstance(renderer, LiveRenderer):
            renderer.tool_output(call_id, stream, text)

    def show(self) -> Renderer:
        """Build the renderer (once), give it the early events and put it on screen."""
        if self.renderer is not None:
            return self.renderer
        self._run.publish_start()  # before the page hears of the run (_announce)
        renderer = self._make()
        self.status = _announce(self._run, renderer)
        for event in self._early:
            renderer.handle(event)
        self._early.clear()
        with self._output_lock:
            if isinstance(renderer, LiveRenderer):
                for call_id, stream, text in self._early_output:
                    renderer.tool_output(call_id, stream, text)
            self._early_output.clear()
            self.renderer = renderer  # before start: an interrupt in it must not build another
        renderer.start()
        return renderer


#: seconds the cell thread waits for the agent's first event before showing the view
VIEW_DELAY = 0.1
#: writes of a tool kept for the view while it is being built (the result keeps them all)
EARLY_OUTPUT_WRITES = 1000


def drive(
    run: Run,
    agent: Agent,
    renderer: Renderer | Callable[[], Renderer],
    *,
    flush_interval: float = 0.08,
    prepare: Callable[[Run, Callable[[Event], None]], None] | None = None,
    view_delay: float = VIEW_DELAY,
) -> RunOutcome:
    """Run ``agent`` for ``run`` and render it, blocking until it ends.

    ``renderer`` is a Renderer, or a function that makes one: then it is made once
    the request is on its way (see ``_View``). ``prepare(run, notify)`` runs on this
    thread once the request is saved and before the agent starts (context
    compression); ``notify`` shows an event in the run's view; the stop button
    during it cancels the run.
    """
    inbox = _Inbox()
    view = _View(run, renderer)

    def sink(event: Event) -> None:
        if event.kind == "token":
            inbox.put_token(event.text)  # type: ignore[union-attr]
            return
        inbox.put(event)
        if event.kind == "tool.completed":
            run.poke()

    agent.kernel_runner = _kernel_runner(inbox, run.cancel_event)
    agent.output_tap = view.tool_output
    run.start(checkpoints=False)  # started below, once the request is on its way
    try:
        if prepare is not None:
            try:
                prepare(run, view.handle)
            except KeyboardInterrupt:
                run.cancel_event.set()  # the agent then ends at once, as cancelled
        history = run.history()
        worker = threading.Thread(
            target=_work, args=(agent, run, history, sink, inbox), name=f"hermes_nb-agent-{run.stream_id}", daemon=True
        )
        worker.start()
    except BaseException as exc:  # the request is on disk: keep it, never leave it pending
        run.fail(exc)
        raise
    try:
        run.start_checkpoints()
    except BaseException as exc:  # no thread for checkpoints: stop the agent, keep the request
        run.cancel_event.set()
        worker.join(5.0)
        run.fail(exc)
        raise
    end: _End | None
    try:
        end = _pump(inbox, run, view, flush_interval, view_delay)
    except BaseException as exc:  # a display failure must not leave the run pending
        run.cancel_event.set()
        end = _End(error=exc)
    unshown: BaseException | None = None
    try:
        view.show()  # a run that ended before its view was shown still ends in the cell
    except BaseException as exc:  # the run is written back all the same, then the error shown
        run.cancel_event.set()
        end = _End(error=exc)
        unshown = exc
    state = "failed"
    try:
        outcome = _conclude(run, view.renderer, end)
        state = final_state(outcome.stop_reason)
    finally:
        if view.status is not None:
            _report(view.status, view.renderer, state)
    if unshown is not None and view.renderer is None:
        raise unshown
    return outcome


def _announce(run: Run, renderer: Renderer) -> RunStatusComm:
    """Tell the renderer which run it shows (for the live view's MIME entry) and open
    the run status comm (a closed one sends nothing)."""
    from hermes_nb.store import sessions

    session = run.session
    shown = getattr(renderer, "state", None)
    info = RunInfo.for_run(
        run.session_id,
        run.stream_id,
        notebook=session.notebook,
        session_dir=sessions.store().folder,
        model=getattr(shown, "model", None) or session.model,
        started_at=run.started_at,
    )
    status = RunStatusComm(info)
    # Both only under a Jupyter server (JupyterLab, Notebook 7), whose frontend
    # extension reads them. Elsewhere nobody does: nbval (which ignores clear_output)
    # would report the entry as an unexpected output of every cell, and nbclient logs
    # a warning for a comm target it has no handler for.
    if os.environ.get("JPY_SESSION_NAME"):
        bind = getattr(renderer, "bind_run", None)
        if bind is not None:
            bind(info)
        status.open()
    return status


def _report(
    status: RunStatusComm, renderer: Renderer | None, state: str | None = None, *, force: bool = False
) -> None:
    """Progress on the run status comm (rate-limited unless ``force``), or its final message."""
    shown = getattr(renderer, "state", None)
    if shown is None:  # a renderer without a display model: nothing to report but the end
        shown = TurnDisplay()
    if state is not None:
        status.close(state, shown.elapsed, shown.input_tokens, shown.output_tokens)
        return
    tool = next((c.name for c in reversed(shown.cards.values()) if c.status == "running"), None)
    status.update(shown.elapsed, shown.input_tokens, shown.output_tokens, tool, force=force)


def _work(agent: Agent, run: Run, history: list[dict[str, Any]], sink: Callable[[Event], None], inbox: _Inbox) -> None:
    """The agent thread: one turn, whose end (or failure) goes to the cell thread."""
    try:
        inbox.put(_End(result=agent.run(history, run.user_message, sink, run.cancel_event, run.turn, run.attachments)))
    except BaseException as exc:  # reported on the cell thread
        inbox.put(_End(error=exc))


def _pump(inbox: _Inbox, run: Run, view: _View, flush_interval: float, view_delay: float) -> _End | None:
    """Hand events to the renderer and run kernel tools until the agent ends.

    The view goes on screen with the first item from the agent, or after
    ``view_delay`` seconds. Returns None when the agent did not stop within the
    grace period of a cancel.
    """
    cancelled_at: float | None = None
    show_by = time.monotonic() + view_delay
    last_flush = time.monotonic()
    while True:
        try:
            waiting = view.renderer is None
            timeout = min(0.05, max(0.0, show_by - time.monotonic())) if waiting else 0.05
            item = inbox.get(timeout=timeout)
            if isinstance(item, _End):
                return item
            if waiting and (item is not None or time.monotonic() >= show_by):
                if isinstance(item, Event):
                    view.handle(item)  # drawn by the view's first flush
                    item = None
                view.show()
                last_flush = time.monotonic()
            renderer = view.renderer
            if renderer is None:
                continue
            if isinstance(item, _KernelCall):
                _run_here(item, renderer, view.status, flush_interval)
            elif item is not None:
                renderer.handle(item)
            now = time.monotonic()
            if now - last_flush >= flush_interval:
                renderer.flush()
                if view.status is not None:
                    _report(view.status, renderer)
                last_flush = now
        except KeyboardInterrupt:
            if cancelled_at is None:
                cancelled_at = time.monotonic()
                run.cancel_event.set()
                view.handle(Notice(CANCELLING))
        if cancelled_at is not None and time.monotonic() - cancelled_at > CANCEL_GRACE:
            return None


def _run_here(call: _KernelCall, renderer: Renderer, status: RunStatusComm | None, interval: float) -> None:
    """Run a tool on this thread while the view pump keeps the view moving.

    Everything shown so far is drawn first (the text before the call whole, the call's
    card), and the status item gets the tokens so far; then, for a renderer that can
    draw from another thread, the pump redraws every ``interval`` (elapsed time, what
    the tool prints) until the tool returns.
    """
    if not isinstance(renderer, LiveRenderer):
        renderer.flush()
        if status is not None:
            _report(status, renderer, force=True)
        _run_kernel_call(call)
        return
    live = renderer
    live.flush(force=True)
    if status is not None:
        _report(status, live, force=True)

    def tick() -> None:
        live.flush()
        if status is not None:
            _report(status, live)

    with ViewPump(tick, interval):
        _run_kernel_call(call)


def _run_kernel_call(call: _KernelCall) -> None:
    call.started = True
    try:
        call.result = call.fn()
    except KeyboardInterrupt as exc:  # the output so far, when the tool kept it
        output = getattr(exc, "output", None)
        call.result = output if isinstance(output, ToolOutput) else ToolOutput("Interrupted by the user.", is_error=True)
        raise
    except BaseException as exc:
        call.error = exc
    finally:
        call.done.set()


def _kernel_runner(
    inbox: _Inbox, cancel: threading.Event
) -> Callable[[Callable[[], ToolOutput]], ToolOutput]:
    """How the agent thread runs a tool on the cell thread, and waits for it."""

    def run_on_cell_thread(fn: Callable[[], ToolOutput]) -> ToolOutput:
        call = _KernelCall(fn)
        inbox.put(call)
        while not call.done.wait(0.05):
            if cancel.is_set() and not call.started:
                return ToolOutput("Cancelled by the user.", is_error=True)
        if call.error is not None:
            raise call.error
        return call.result  # type: ignore[return-value]  # an approval answer may be None

    return run_on_cell_thread


def _conclude(run: Run, renderer: Renderer | None, end: _End | None) -> RunOutcome:
    """Write the run back and give the renderer its last word, whatever happened."""
    written = False
    stop_reason = "error"
    result = None
    try:
        if end is None:
            log.warning("agent did not stop within %.0fs of cancel", CANCEL_GRACE)
            written = cancel_stream(run.stream_id)
            run.abandon()
            stop_reason = "cancelled"
        elif end.error is not None:
            written = run.fail(end.error)
            if renderer is not None:
                renderer.handle(_error_event(end.error))
        else:
            result = end.result
            stop_reason = result.stop_reason
            written = run.finish(result)
    finally:
        if renderer is not None:
            renderer.finish(stop_reason)
    return RunOutcome(stop_reason=stop_reason, result=result, written=written)


def _error_event(error: BaseException) -> Event:
    return ErrorEvent(message=redact(str(error) or type(error).__name__), error_type=type(error).__name__)
