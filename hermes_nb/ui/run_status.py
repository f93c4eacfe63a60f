"""What a frontend needs to know about a live run: its identity and its progress.

Two channels, both from the cell thread:

* ``RunInfo.mime()`` is the ``application/vnd.hermes-nb.run+json`` entry of the live
  view's display bundle. It stays in the saved output, so when the kernel dies (or the
  notebook is reopened without widget state) the JupyterLab extension still knows
  which session and run the cell showed, and draws that run from the session file.
* ``RunStatusComm`` is the ``hermes_nb.run`` comm: a few messages a second while the
  run is live (JupyterLab's own status bar says "Idle" during a run, because widget
  traffic goes over a kernel subshell), a final one with the end state, then close.
  Outside a kernel with a comm manager it does nothing; a failing comm never
  disturbs the run.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["MIME_TYPE", "COMM_TARGET", "RunInfo", "RunStatusComm", "final_state"]

log = logging.getLogger("hermes_nb.ui.run_status")

MIME_TYPE = "application/vnd.hermes-nb.run+json"
COMM_TARGET = "hermes_nb.run"
#: at most this many status messages a second
MAX_RATE = 2.0

_FINAL_STATES = {"complete": "done", "turn_limit": "done", "cancelled": "cancelled"}


def final_state(stop_reason: str | None) -> str:
    """The comm's end state for a run's stop reason: done, cancelled or failed."""
    return _FINAL_STATES.get(stop_reason or "", "failed")


@dataclass(frozen=True)
class RunInfo:
    """Which run a live view shows, as the frontend finds it again later."""

    session_id: str
    run_id: str
    notebook: str | None
    session_dir: str
    model: str | None
    started_at: float

    @classmethod
    def for_run(
        cls,
        session_id: str,
        run_id: str,
        *,
        notebook: str | None,
        session_dir: Path,
        model: str | None,
        started_at: float,
        notebook_dir: Path | None = None,
    ) -> RunInfo:
        """``session_dir`` is given relative to the notebook's folder (the kernel's
        working directory unless ``notebook_dir`` says otherwise)."""
        base = notebook_dir if notebook_dir is not None else Path.cwd()
        try:
            rel = os.path.relpath(session_dir, base)
        except ValueError:  # another drive on Windows
            rel = str(session_dir)
        return cls(session_id, run_id, notebook, Path(rel).as_posix(), model, started_at)

    def mime(self) -> dict[str, Any]:
        return {
            "version": 1,
            "session_id": self.session_id,
            "run_id": self.run_id,
            "notebook": self.notebook,
            "session_dir": self.session_dir,
            "model": self.model,
            "started_at": self.started_at,
        }


class RunStatusComm:
    """The ``hermes_nb.run`` comm of one run (cell thread only)."""

    def __init__(self, info: RunInfo, *, clock: Any = time.monotonic) -> None:
        self.info = info
        self.sent: list[dict[str, Any]] = []  # what was sent, for tests and debugging
        self._clock = clock
        self._comm: Any = None
        self._last_sent = float("-inf")
        self._last_payload: dict[str, Any] | None = None

    def open(self) -> None:
        """Open the comm with a first "running" message; no-op without a kernel."""
        try:
            import comm

            self._comm = comm.create_comm(target_name=COMM_TARGET, data=self._payload("running"))
            self._comm.on_close(self._closed_by_frontend)
        except Exception:  # no kernel, no frontend, an old comm package: run without it
            log.debug("run status comm not opened", exc_info=True)
            self._comm = None
            return
        self._last_sent = self._clock()

    def _closed_by_frontend(self, msg: Any) -> None:
        """A frontend without a handler for the target closes the comm: stop sending."""
        self._comm = None

    def _payload(
        self,
        state: str,
        elapsed: float = 0.0,
        input_tokens: int = 0,
        output_tokens: int = 0,
        tool: str | None = None,
    ) -> dict[str, Any]:
        payload = {
            "session_id": self.info.session_id,
            "run_id": self.info.run_id,
            "model": self.info.model,
            # "phase", not "state": nbclient takes any comm data with a "state" key for
            # widget state and fails on it (jupyter execute, nbval)
            "phase": state,
            "elapsed": round(elapsed, 1),
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "tool": tool,
        }
        self.sent.append(payload)
        return payload

    def update(
        self,
        elapsed: float,
        input_tokens: int,
        output_tokens: int,
        tool: str | None,
        *,
        force: bool = False,
    ) -> bool:
        """Send the run's progress unless the last message went out under 0.5 s ago.

        ``force`` sends it anyway: before the cell thread runs a tool it sends nothing
        until the tool returns, so the figures it has now must go out now.
        """
        if self._comm is None:
            return False
        now = self._clock()
        if not force and now - self._last_sent < 1.0 / MAX_RATE:
            return False
        self._last_sent = now
        self._send(self._payload("running", elapsed, input_tokens, output_tokens, tool))
        return True

    def close(
        self, state: str, elapsed: float, input_tokens: int, output_tokens: int
    ) -> None:
        """The final state, then close the comm."""
        if self._comm is None:
            return
        self._send(self._payload(state, elapsed, input_tokens, output_tokens, None))
        try:
            self._comm.close()
        except Exception:
            log.debug("run status comm close failed", exc_info=True)
        self._comm = None

    def _send(self, payload: dict[str, Any]) -> None:
        try:
            self._comm.send(payload)
        except Exception:
            log.debug("run status comm send failed", exc_info=True)
