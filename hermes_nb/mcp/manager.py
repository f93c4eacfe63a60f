"""The kernel's MCP servers: started on first use, reused across cells, stopped at exit.

``prepare`` is called at the start of every run with the servers configured now. It
stops servers whose configuration changed or disappeared, starts the ones not
running (a server that failed or died is retried here, once per run), and returns
their tools plus one line per server that could not be started. The run then goes
on without that server's tools.
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hermes_nb.agent.tools.registry import Tool
from hermes_nb.errors import McpError
from hermes_nb.mcp.connection import Connection
from hermes_nb.mcp.runtime import LoopThread
from hermes_nb.mcp.settings import ServerConfig
from hermes_nb.mcp.tools import make_tools

__all__ = ["McpManager", "Prepared", "manager"]

log = logging.getLogger("hermes_nb.mcp")


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
    ) -> Prepared:
        """Make the configured servers run (in parallel) and collect their tools."""
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
        notices = _start_all([c for c in conns if not c.alive()], start_timeout)
        tools = [t for c in conns if c.state == "running" for t in make_tools(c, call_timeout)]
        return Prepared(tools, notices)

    def restart(self, config: ServerConfig, folder: Path | None, start_timeout: float) -> Connection:
        """Stop one server (if it ran) and start it now; McpError says why it did not start."""
        with self._lock:
            self._register_exit()
            old = self.connections.get(config.name)
            if old is not None:
                old.stop()
            conn = self.connections[config.name] = Connection(config, self.runtime, folder)
        conn.start(start_timeout)
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


def _start_all(conns: list[Connection], timeout: float) -> list[str]:
    """Start servers side by side; one line per failure. Ctrl-C stops the waiting."""
    notices: list[str] = []

    def start(conn: Connection) -> None:
        try:
            conn.start(timeout)
        except McpError as exc:
            notices.append(f"{exc}; continuing without its tools (it is retried on the next run)")
        except Exception as exc:  # the SDK failed in a way we did not foresee: same outcome
            log.debug("starting %s failed", conn.name, exc_info=True)
            notices.append(f"MCP server {conn.name!r} did not start: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=start, args=(c,), daemon=True) for c in conns]
    for t in threads:
        t.start()
    for t in threads:
        while t.is_alive():
            t.join(0.05)
    return sorted(notices)


_MANAGER: McpManager | None = None
_MANAGER_LOCK = threading.Lock()


def manager() -> McpManager:
    """This process's manager (one per kernel)."""
    global _MANAGER
    with _MANAGER_LOCK:
        if _MANAGER is None:
            _MANAGER = McpManager()
        return _MANAGER
