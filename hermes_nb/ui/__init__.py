"""Renderers that turn a run's events into something a person sees.

Three renderers share one interface (:class:`Renderer`): a live ipywidgets view for
notebooks, plain text for terminals, and a static transcript for headless runs. All
draw from :class:`~hermes_nb.ui.state.TurnDisplay`. Importing this package is cheap:
ipywidgets and markdown-it are imported when a renderer is built. Beside them: the
static transcripts of saved sessions, the run-status comm's data (``run_status``) and
the files through which the page answers a running cell (``page_replies``).

May import: agent (its events), safety, errors, and ipywidgets, IPython and comm for
the live view. Not mcp, context, store or kernel: the kernel side hands a renderer
what to draw, and the server extension uses the static renderers of saved sessions.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    from hermes_nb.agent.events import Event
    from hermes_nb.ui.state import TurnDisplay
    from hermes_nb.ui.static import StaticRenderer
    from hermes_nb.ui.text import TextRenderer
    from hermes_nb.ui.transcript import (
        history_markdown,
        history_mimebundle,
        mimebundle,
        render_history,
        to_html,
        to_markdown,
        to_plain,
    )
    from hermes_nb.ui.widget import WidgetRenderer

__all__ = [
    "MODES",
    "LiveRenderer",
    "Renderer",
    "RendererMode",
    "StaticRenderer",
    "TextRenderer",
    "TurnDisplay",
    "WidgetRenderer",
    "choose_renderer",
    "history_markdown",
    "history_mimebundle",
    "mimebundle",
    "render_history",
    "to_html",
    "to_markdown",
    "to_plain",
    "widgets_available",
]

RendererMode = Literal["auto", "widget", "text", "static"]
MODES: tuple[str, ...] = ("auto", "widget", "text", "static")

_LAZY = {
    "StaticRenderer": "hermes_nb.ui.static",
    "TextRenderer": "hermes_nb.ui.text",
    "TurnDisplay": "hermes_nb.ui.state",
    "WidgetRenderer": "hermes_nb.ui.widget",
    "history_markdown": "hermes_nb.ui.transcript",
    "history_mimebundle": "hermes_nb.ui.transcript",
    "mimebundle": "hermes_nb.ui.transcript",
    "render_history": "hermes_nb.ui.transcript",
    "to_html": "hermes_nb.ui.transcript",
    "to_markdown": "hermes_nb.ui.transcript",
    "to_plain": "hermes_nb.ui.transcript",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'hermes_nb.ui' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


@runtime_checkable
class Renderer(Protocol):
    """What the cell thread drives during a run.

    ``handle`` is cheap and may be called for every token; ``flush`` draws what changed
    (the cell thread calls it every ~80-100 ms); ``finish`` leaves the final form.
    """

    state: TurnDisplay

    def start(self) -> None: ...

    def handle(self, event: Event) -> None: ...

    def flush(self) -> None: ...

    def show_tool_outputs(self, call_id: str, outputs: Sequence[dict[str, Any]]) -> None: ...

    def finish(self, stop_reason: str | None = None) -> None: ...


@runtime_checkable
class LiveRenderer(Renderer, Protocol):
    """A renderer that keeps drawing while the cell thread runs a tool.

    ``flush`` may then be called from another thread (never two at once) and only
    updates what is on screen; ``tool_output`` receives what the running call prints,
    from the thread that prints it.
    """

    def flush(self, force: bool = False) -> None: ...

    def tool_output(self, call_id: str, stream: str, text: str) -> None: ...


def widgets_available() -> bool:
    """True inside an ipykernel (a ZMQ shell) with ipywidgets installed.

    Only modules already imported are consulted: a terminal or plain Python process
    does not pay for importing IPython or ipykernel here.
    """
    if "IPython" not in sys.modules or "ipykernel" not in sys.modules:
        return False
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None:
        return False
    try:
        from ipykernel.zmqshell import ZMQInteractiveShell
    except ImportError:
        return False
    if not isinstance(shell, ZMQInteractiveShell):
        return False
    return importlib.util.find_spec("ipywidgets") is not None


def choose_renderer(
    model_name: str | None = None, mode: str = "auto", *, own_cell: bool = True
) -> Renderer:
    """The renderer for this process: widgets in a notebook kernel, else text.

    ``mode`` forces one: "widget", "text", or "static" (no live view, only the final
    transcript: for headless execution, where widgets are never rendered).
    ``own_cell`` says the run is the cell's only output (see WidgetRenderer).
    """
    if mode not in MODES:
        raise ValueError(f"unknown display mode {mode!r}; use one of: {', '.join(MODES)}")
    if mode == "auto":
        mode = "widget" if widgets_available() else "text"
    if mode == "widget":
        from hermes_nb.ui.widget import WidgetRenderer

        return WidgetRenderer(model_name, own_cell=own_cell)
    if mode == "static":
        from hermes_nb.ui.static import StaticRenderer

        return StaticRenderer(model_name)
    from hermes_nb.ui.text import TextRenderer

    return TextRenderer(model_name)
