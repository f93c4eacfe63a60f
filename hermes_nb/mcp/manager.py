"""The kernel's MCP servers: started on first use, reused across cells, stopped at exit.

``prepare`` is called at the start of every run with the servers configured now. It
stops servers whose configuration changed or disappeared, starts the ones not
running, and returns the tools of those that run plus one line per server that could
not be started. The run then goes on without that server's tools.

A server must never hold a run up for long: servers start side by side on threads of
their own, and a run waits for them only up to ``wait`` seconds
(``AgentMagics.mcp_start_wait``); one still starting then joins a later run. A server
that failed to start is tried again only after a pause that doubles with each failure
(``BACKOFF``), in the background, and no run waits for it; ``%agent mcp restart``
tries it now. A server that ran and died is started again at the next run.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hermes_nb.agent.tools.registry import Tool
from hermes_nb.errors import McpError
from hermes_nb.mcp.connection import Connection
from hermes_nb.mcp.runtime import LoopThread
from hermes_nb.mcp.settings import ServerConfig
from hermes_nb.mcp.tools import assign_names, make_tools, offered

__all__ = ["BACKOFF", "McpManager", "Prepared", "manager", "retry_hint"]

log = logging.getLogger("hermes_nb.mcp")

#: seconds before a server that failed to start is tried again: first, and at most
BACKOFF = (10.0, 300.0)
#: seconds of waiting for starting servers after which the run says which ones it waits for
SAY_STARTING_AFTER = 0.5


@dataclass
class Prepared:
    """What a run gets: the tools of every running server, and what went wrong."""

    tools: list[Tool]
    notices: list[str]


class McpManager:
    """Every MCP connection of this process, by server name."""

    def __init__(self) -> None:
        self.runtime = LoopThread()
        self.connections: dict[str, Connection] = {}
        self._lock = threading.Lock()
        self._exit_registered = False

    def prepare(
        self,
        servers: dict[str, ServerConfig],
        folder: Path | None,
        *,
        call_timeout: float,
        start_timeout: float,
        wait: float | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> Prepared:
        """Make the configured servers run (in parallel) and collect their tools.

        ``wait``: seconds to wait for servers started now (None: until they are up or
        ``start_timeout`` passes). ``progress`` hears once which servers the run waits for.
        """
        with self._lock:
            self._register_exit()
            for name in list(self.connections):
                conn = self.connections[name]
                if servers.get(name) != conn.config or conn.folder != folder:
                    conn.stop()
                    del self.connections[name]
            for name, config in servers.items():
                if name not in self.connections:
                    self.connections[name] = Connection(config, self.runtime, folder)
            conns = [self.connections[n] for n in servers]
        _each(lambda c: c.alive(), [c for c in conns if c.state == "running"])
        notices: list[str] = []
        starts: list[tuple[Connection, threading.Thread, bool]] = []
        now = time.monotonic()
        for conn in conns:
            if conn.state == "running":
                continue
            if conn.state == "starting":
                notices.append(_still_starting(conn))
            elif conn.failures and now < conn.retry_at:
                notices.append(_backing_off(conn, now))
            else:
                retry = conn.failures > 0  # read before the start: a quick failure changes it
                starts.append((conn, self._start_soon(conn, start_timeout), retry))
        awaited = [(c, t) for c, t, retry in starts if not retry]  # a retry is never waited for
        _wait_for(awaited, start_timeout if wait is None else wait, progress)
        for conn, thread in awaited:
            if thread.is_alive():
                notices.append(_still_starting(conn))
            elif conn.state == "failed":
                notices.append(_failed(conn))
        running = [c for c in conns if c.state == "running"]
        names = assign_names((c.name, tool) for c in running for tool in offered(c))
        tools = [t for c in running for t in make_tools(c, call_timeout, names)]
        return Prepared(tools, sorted(notices))

    def _start_soon(self, conn: Connection, timeout: float) -> threading.Thread:
        """Start ``conn`` on a thread of its own; a failure sets its back-off."""

        def start() -> None:
            try:
                conn.start(timeout)
            except McpError:
                pass
            except Exception as exc:  # the SDK failed in a way we did not foresee: same outcome
                log.debug("starting %s failed", conn.name, exc_info=True)
                conn.state, conn.error = "failed", f"{type(exc).__name__}: {exc}"
            if conn.state == "running":
                conn.failures = 0
            elif conn.state == "failed":
                conn.failures += 1
                first, most = BACKOFF
                conn.retry_at = time.monotonic() + min(most, first * 2 ** (conn.failures - 1))

        conn.state = "starting"  # before the thread runs: the next run must not start it again
        thread = threading.Thread(target=start, name=f"hermes_nb-mcp-start-{conn.name}", daemon=True)
        thread.start()
        return thread

    def restart(self, config: ServerConfig, folder: Path | None, start_timeout: float) -> Connection:
        """Stop one server (if it ran) and start it now; McpError says why it did not start."""
        with self._lock:
            self._register_exit()
            old = self.connections.get(config.name)
            if old is not None:
                old.stop()
            conn = self.connections[config.name] = Connection(config, self.runtime, folder)
        try:
            conn.start(start_timeout)
        except McpError:
            conn.failures, conn.retry_at = 1, time.monotonic() + BACKOFF[0]
            raise
        return conn

    def stop(self, names: list[str]) -> None:
        """Stop these folder servers now (their approval was withdrawn)."""
        with self._lock:
            conns = [c for n, c in self.connections.items() if n in names and c.config.from_folder]
            for conn in conns:
                del self.connections[conn.name]
        for conn in conns:
            conn.stop()

    def shutdown(self) -> None:
        """Stop every server (in parallel, each bounded by the SDK's shutdown steps)."""
        with self._lock:
            conns = list(self.connections.values())
        threads = [threading.Thread(target=c.stop, daemon=True) for c in conns]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)

    def _register_exit(self) -> None:
        """Stop the servers when the kernel is asked to shut down or restart, and at exit.

        A SIGKILLed kernel runs neither: the launcher then kills its server.
        """
        if not self._exit_registered:
            atexit.register(self.shutdown)
            _hook_kernel_shutdown(self.shutdown)
            self._exit_registered = True


def _hook_kernel_shutdown(stop: Callable[[], None]) -> None:
    """Run ``stop`` before ipykernel answers a shutdown (or restart) request.

    ipykernel terminates only children in its own process group at shutdown, and
    the SDK starts servers in a new one, so they are ours to stop.
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return
    kernel = getattr(get_ipython(), "kernel", None)
    original = getattr(kernel, "do_shutdown", None)
    if original is None or getattr(original, "_hermes_nb_mcp", False):
        return

    def do_shutdown(restart: bool) -> Any:
        try:
            stop()
        except Exception:  # shutting down must go on whatever happens here
            log.debug("stopping MCP servers at kernel shutdown failed", exc_info=True)
        return original(restart)

    do_shutdown._hermes_nb_mcp = True  # type: ignore[attr-defined]
    kernel.do_shutdown = do_shutdown  # type: ignore[union-attr]


def _each(fn: Callable[[Connection], object], conns: list[Connection]) -> None:
    """``fn`` on every connection side by side (each call bounds its own wait)."""
    threads = [threading.Thread(target=fn, args=(c,), daemon=True) for c in conns]
    for t in threads:
        t.start()
    for t in threads:
        while t.is_alive():
            t.join(0.05)


def _wait_for(
    starts: list[tuple[Connection, threading.Thread]], seconds: float, progress: Callable[[str], None] | None
) -> None:
    """Wait up to ``seconds`` for these starts, in slices (Ctrl-C is noticed); say once,
    after a moment, which servers the run is waiting for."""
    began = time.monotonic()
    said = progress is None
    while True:
        pending = [c.name for c, t in starts if t.is_alive()]
        waited = time.monotonic() - began
        if not pending or waited >= seconds:
            return
        if not said and waited >= SAY_STARTING_AFTER:
            said = True
            assert progress is not None
            progress(f"MCP: starting {', '.join(pending)} (waiting up to {seconds:g} s)…")
        time.sleep(min(0.05, max(0.0, seconds - waited)))


def retry_hint(conn: Connection, now: float | None = None) -> str:
    left = max(0.0, conn.retry_at - (time.monotonic() if now is None else now))
    return f"tried again in {left:.0f} s, or now with %agent mcp restart {conn.name}"


def _failed(conn: Connection) -> str:
    return f"MCP server {conn.name!r} did not start: {conn.error}; continuing without its tools ({retry_hint(conn)})"


def _backing_off(conn: Connection, now: float) -> str:
    return f"MCP server {conn.name!r} did not start: {conn.error}; left out of this run ({retry_hint(conn, now)})"


def _still_starting(conn: Connection) -> str:
    return f"MCP server {conn.name!r} is still starting; its tools join a later run once it is up"


_MANAGER: McpManager | None = None
_MANAGER_LOCK = threading.Lock()


def manager() -> McpManager:
    """This process's manager (one per kernel)."""
    global _MANAGER
    with _MANAGER_LOCK:
        if _MANAGER is None:
            _MANAGER = McpManager()
        return _MANAGER
