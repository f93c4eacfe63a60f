"""A renderer that shows nothing live, only the final transcript.

For headless execution (nbclient, ``jupyter execute``, nbval), where widgets are never
rendered and the saved outputs are all anyone will see.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from hermes_nb.agent.events import Event
from hermes_nb.ui.state import TurnDisplay
from hermes_nb.ui.transcript import mimebundle

__all__ = ["StaticRenderer"]


class StaticRenderer:
    """Records the turn; ``finish`` displays its transcript once."""

    def __init__(self, model_name: str | None = None) -> None:
        self.state = TurnDisplay(model_name)
        self._lock = threading.Lock()
        self._finished = False

    def start(self) -> None:
        with self._lock:
            self.state.restart_clock()

    def handle(self, event: Event) -> None:
        with self._lock:
            self.state.apply(event)

    def flush(self) -> None:
        """Nothing to draw until the end."""

    def show_tool_outputs(self, call_id: str, outputs: Sequence[dict[str, Any]]) -> None:
        with self._lock:
            self.state.add_outputs(call_id, outputs)

    def finish(self, stop_reason: str | None = None) -> None:
        if self._finished:
            return
        self._finished = True
        from IPython.display import display

        with self._lock:
            self.state.finish(stop_reason or "complete")
            bundle = mimebundle(self.state)
        display(bundle, raw=True)
