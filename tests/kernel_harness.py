"""Drive a real IPython kernel through jupyter_client, as a notebook frontend would."""

from __future__ import annotations

import json
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from disk_view import sessions_in
from jupyter_client.manager import KernelManager

#: the notebook a kernel of ``kernel_env`` belongs to (JPY_SESSION_NAME)
NOTEBOOK = "analysis.ipynb"


@contextmanager
def default_sigint() -> Iterator[None]:
    """SIGINT handled as Python normally does, for this block.

    A test runner started in the background (``cmd &`` in a script, some CI
    runners) inherits SIGINT *ignored*; a child process inherits that too, so a
    kernel started from it would never see an interrupt, and ``_thread.interrupt_main``
    does nothing. Only the main thread may change signal handling.
    """
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.SIG_IGN
    ):
        yield
        return
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


@dataclass
class Execution:
    """What one execute request produced on iopub, and its reply."""

    msg_id: str
    status: str = ""
    stdout: str = ""
    stderr: str = ""
    error: str = ""
    displays: list[dict[str, Any]] = field(default_factory=list)
    comm_msgs: int = 0
    #: (time.time() on arrival, the message's data as JSON) of each comm message
    comm_log: list[tuple[float, str]] = field(default_factory=list)
    clears: int = 0  # clear_output messages (the displays before them are kept here)
    #: comm messages other than widgets': (msg_type, content) of comms opened with a target
    #: name not starting with "jupyter.widget"
    comms: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    done: bool = False
    #: the execute reply's payloads (``set_next_input`` asks the frontend for a new cell)
    payload: list[dict[str, Any]] = field(default_factory=list)

    def text(self) -> str:
        """Everything a person would read: streams, plain-text and markdown displays."""
        parts = [self.stdout, self.stderr, self.error]
        for data in self.displays:
            parts.append(str(data.get("text/markdown") or data.get("text/plain") or ""))
        return "\n".join(parts)

    def html(self) -> str:
        return "\n".join(str(d.get("text/html", "")) for d in self.displays)


class Kernel:
    """A running kernel in ``cwd`` with extra environment variables."""

    def __init__(self, cwd: Path, env: dict[str, str] | None = None, connection_file: Path | None = None) -> None:
        self.cwd = cwd
        self.env = {**os.environ, **(env or {})}
        self.km = KernelManager(kernel_name="python3")
        if connection_file is not None:  # a Jupyter server names it kernel-<kernel id>.json
            self.km.connection_file = str(connection_file)
        self.kc: Any = None
        self.extra_arguments: list[str] = []

    def start(self) -> None:
        with default_sigint():  # the kernel must not inherit an ignored SIGINT
            self.km.start_kernel(
                cwd=str(self.cwd),
                env=self.env,
                extra_arguments=["--HistoryManager.enabled=False", *self.extra_arguments],
            )
        self._connect()

    def _connect(self) -> None:
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)

    def restart(self) -> None:
        """Start a new kernel process with the same connection (after a crash)."""
        self.kc.stop_channels()
        with default_sigint():
            self.km.restart_kernel(now=True)
        self._connect()

    def kill(self) -> None:
        """SIGKILL, as when the kernel dies of an out-of-memory error."""
        self.km.signal_kernel(signal.SIGKILL)
        deadline = time.monotonic() + 10
        while self.km.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)

    def interrupt(self) -> None:
        self.km.interrupt_kernel()

    def shutdown(self) -> None:
        try:
            if self.kc is not None:
                self.kc.stop_channels()
        finally:
            if self.km.has_kernel:
                self.km.shutdown_kernel(now=True)

    # -- executing -------------------------------------------------------------------

    def submit(self, code: str, allow_stdin: bool = True) -> Execution:
        """Execute as a notebook page does (``allow_stdin`` true: it can answer
        ``input()``); ``allow_stdin=False`` as nbclient, nbval or papermill do."""
        return Execution(msg_id=self.kc.execute(code, allow_stdin=allow_stdin))

    def answer_input(self, answer: str, timeout: float = 30.0) -> str:
        """Wait for the kernel's ``input()`` prompt, answer it, return the prompt."""
        msg = self.kc.get_stdin_msg(timeout=timeout)
        assert msg["msg_type"] == "input_request", msg["msg_type"]
        self.kc.input(answer)
        return str(msg["content"]["prompt"])

    def collect(self, ex: Execution, timeout: float = 60.0, until: Any = None) -> Execution:
        """Read iopub for ``ex`` until it is idle, or ``until(ex)`` is true, or timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if until is not None and until(ex):
                return ex
            try:
                msg = self.kc.get_iopub_msg(timeout=0.2)
            except queue.Empty:
                continue
            if msg["parent_header"].get("msg_id") != ex.msg_id:
                continue
            _record(ex, msg)
            if ex.done:
                self._reply(ex, deadline)
                return ex
        raise TimeoutError(f"kernel did not finish within {timeout}s; so far:\n{ex.text()[-2000:]}")

    def _reply(self, ex: Execution, deadline: float) -> None:
        while time.monotonic() < deadline:
            try:
                reply = self.kc.get_shell_msg(timeout=1)
            except queue.Empty:
                continue
            if reply["parent_header"].get("msg_id") == ex.msg_id:
                ex.status = reply["content"]["status"]
                ex.payload = list(reply["content"].get("payload") or [])
                return

    def run(self, code: str, timeout: float = 60.0) -> Execution:
        return self.collect(self.submit(code), timeout)


def _record(ex: Execution, msg: dict[str, Any]) -> None:
    kind = msg["msg_type"]
    content = msg["content"]
    if kind == "stream":
        if content["name"] == "stdout":
            ex.stdout += content["text"]
        else:
            ex.stderr += content["text"]
    elif kind in ("display_data", "execute_result"):
        ex.displays.append(content["data"])
    elif kind == "update_display_data":
        ex.displays.append(content["data"])
    elif kind == "error":
        ex.error += f"{content['ename']}: {content['evalue']}"
    elif kind == "clear_output":
        ex.clears += 1
    elif kind.startswith("comm_"):
        ex.comm_msgs += 1
        ex.comm_log.append((time.time(), json.dumps(content.get("data"))))
        target = str(content.get("target_name") or "")
        ours = {c["comm_id"] for kind_, c in ex.comms if kind_ == "comm_open"}
        if (kind == "comm_open" and not target.startswith("jupyter.widget")) or content.get("comm_id") in ours:
            ex.comms.append((kind, content))
    elif kind == "status" and content["execution_state"] == "idle":
        ex.done = True


@contextmanager
def kernel(cwd: Path, env: dict[str, str] | None = None, connection_file: Path | None = None) -> Iterator[Kernel]:
    k = Kernel(cwd, env, connection_file)
    k.start()
    try:
        yield k
    finally:
        k.shutdown()


PYTHON = sys.executable


def kernel_env(server: Any, folder: Path) -> dict[str, str]:
    """A kernel's environment: the OpenAI protocol at ``server`` (an sse_server
    ServerProcess), the notebook ``folder/NOTEBOOK``."""
    (folder / NOTEBOOK).write_text("{}")
    return {
        "OPENAI_API_KEY": "sk-test-not-a-real-key",
        "OPENAI_BASE_URL": server.url,
        "HERMES_NB_MODEL": "openai:test-model",
        "JPY_SESSION_NAME": str(folder / NOTEBOOK),
    }


def sessions(folder: Path) -> list[dict[str, Any]]:
    """The sessions saved beside the notebook in ``folder``, journals folded in."""
    return sessions_in(folder / ".hermes_nb" / "sessions")


def load(k: Kernel, interval: float = 0.2) -> Any:
    """Load hermes_nb in the kernel with quick checkpoints and no automatic titles."""
    return k.run(f"%load_ext hermes_nb\n%config AgentMagics.checkpoint_interval = {interval}\n%config AgentMagics.auto_title = False")
