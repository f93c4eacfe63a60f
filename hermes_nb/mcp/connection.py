"""One MCP server: started, listed, called and stopped through the SDK's ``Client``.

The SDK's client is an async context manager whose task groups must be entered and
left by the same task, so each connection lives in one long task on the MCP loop
(``_lifetime``): it connects, lists the tools, then waits to be told to stop. Calls
come from the agent's threads as coroutines on the same loop. Everything blocking
here waits in short slices, so Ctrl-C and the run's cancel are noticed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import re
import sys
import tempfile
import threading
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

from hermes_nb._version import __version__
from hermes_nb.agent.tools.capture import current_tap
from hermes_nb.errors import McpError
from hermes_nb.safety.redact import redact

if sys.version_info < (3, 11):  # anyio depends on the backport there
    from exceptiongroup import BaseExceptionGroup
from hermes_nb.mcp.runtime import LoopThread, wait
from hermes_nb.mcp.settings import ServerConfig, expand

__all__ = ["Connection", "State"]

log = logging.getLogger("hermes_nb.mcp")

State = Literal["stopped", "starting", "running", "failed"]
LAUNCHER = str(Path(__file__).with_name("launcher.py"))
_STOP_WAIT = 8.0  # the SDK's own shutdown is bounded at ~6 s (close stdin, TERM, KILL)
_CHECK_WAIT = 5.0


@dataclass(frozen=True)
class ToolInfo:
    """What the server says about one of its tools."""

    name: str
    description: str
    input_schema: dict[str, Any]


class Connection:
    """A configured server and, while it runs, the client talking to it."""

    def __init__(self, config: ServerConfig, runtime: LoopThread, folder: Path | None) -> None:
        self.config = config
        self.state: State = "stopped"
        self.error: str | None = None
        self.tools: list[ToolInfo] = []
        #: whether the server offers resources (its links can then be read)
        self.has_resources = False
        self.start_seconds: float | None = None
        self._runtime = runtime
        self.folder = folder
        self._client: Any = None
        self._stop: asyncio.Event | None = None
        self._life: concurrent.futures.Future[None] | None = None
        self._ended = threading.Event()  # set when no lifetime task is running
        self._ended.set()
        self._errlog: IO[str] | None = None
        self._lock = threading.Lock()
        self._abort = threading.Event()  # set by stop(): a start in progress gives up
        #: while a call runs: how to ask the user (see ``elicit``), and its last sign of life
        self._asker: Any = None
        self._heard: list[float] = [0.0]
        #: start failures in a row, and when the manager may try again (time.monotonic())
        self.failures = 0
        self.retry_at = 0.0

    @property
    def name(self) -> str:
        return self.config.name

    # -- lifecycle ------------------------------------------------------------------

    def start(self, timeout: float) -> None:
        """Connect and list the tools; McpError (one line) when that fails."""
        self.state = "starting"  # at once: the manager reads it while we wait for the lock
        with self._lock:
            self._stop_now()
            self._abort.clear()
            self.state, self.error, self.tools = "starting", None, []
            started = time.monotonic()
            ready: concurrent.futures.Future[list[ToolInfo]] = concurrent.futures.Future()
            try:
                transport = self._transport()
                self._ended.clear()
                self._life = self._runtime.submit(self._lifetime(transport, ready))
                self.tools = wait(ready, timeout, self._abort)
            except BaseException as exc:
                self.error = redact(self._reason(exc, timeout))  # before the stop closes the stderr file
                self._stop_now()
                self.state = "failed"
                if isinstance(exc, KeyboardInterrupt):
                    raise
                raise McpError(f"MCP server {self.name!r} did not start: {self.error}") from None
            self.start_seconds = time.monotonic() - started
            self.state = "running"

    def stop(self) -> None:
        self._abort.set()  # a start holding the lock gives up within a slice
        with self._lock:
            self._stop_now()
            self.state = "stopped"

    def alive(self) -> bool:
        """Whether a running server still answers; its tool list is refreshed on the way.

        A dead stdio server fails at once. (``ping`` is deprecated by the 2026 protocol.)
        """
        client = self._client
        if self.state != "running" or client is None:
            return False
        try:
            self.tools = wait(self._runtime.submit(_list_tools(client, refresh=True)), _CHECK_WAIT)
        except Exception:
            self._died("stopped answering")
            return False
        return True

    def _stop_now(self) -> None:
        """Leave the client's context (the SDK closes stdin, then TERMs and KILLs the server)."""
        life, self._life = self._life, None
        if life is not None and not self._ended.is_set():
            stop = self._stop
            if self._client is not None and stop is not None:
                self._runtime.call_soon(stop.set)  # connected: leave the context in its own task
            else:
                life.cancel()  # still connecting: cancel the task, the SDK still cleans up
            self._ended.wait(_STOP_WAIT)
        self._client = None
        if self._errlog is not None:
            self._errlog.close()
            self._errlog = None

    def _died(self, how: str) -> None:
        self.state = "failed"
        self.error = f"{how}{self._stderr_hint()}; it will be started again on the next run"
        stop = self._stop
        if stop is not None:
            self._runtime.call_soon(stop.set)

    async def _lifetime(self, transport: Any, ready: concurrent.futures.Future[list[ToolInfo]]) -> None:
        from mcp import Client
        from mcp.types import Implementation

        self._stop = stop = asyncio.Event()
        try:
            async with AsyncExitStack() as stack:
                for resource in transport[1:]:  # an HTTP client to close with the connection
                    await stack.enter_async_context(resource)
                info = Implementation(name="hermes_nb", version=__version__)
                client = await stack.enter_async_context(
                    Client(
                        transport[0],
                        client_info=info,
                        list_roots_callback=self._roots,
                        elicitation_callback=self._elicit,
                    )
                )
                tools = await _list_tools(client)
                self.has_resources = await _offers_resources(client)
                self._client = client
                ready.set_result(tools)
                await stop.wait()
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc if isinstance(exc, Exception) else McpError(str(exc)))
            elif self.state == "running":
                self._died(f"stopped: {_leaf(exc)}")
            if not isinstance(exc, Exception):
                raise
        finally:
            self._client = None
            self._ended.set()

    async def _elicit(self, context: Any, params: Any) -> Any:
        """``elicitation/create``: asked in the cell during a call (see ``elicit``), else declined."""
        from mcp.types import ElicitResult

        from hermes_nb.mcp.elicit import ask_form

        asker = self._asker
        schema = getattr(params, "requested_schema", None)
        if asker is None or getattr(params, "mode", "form") == "url" or not isinstance(schema, dict):
            return ElicitResult(action="decline")
        message, heard = str(getattr(params, "message", "")), self._heard

        def ask() -> Any:
            def on_cell_thread() -> Any:
                try:
                    return ask_form(self.name, message, schema)
                except Exception:  # StdinNotImplementedError, EOFError: nobody to answer
                    return ("decline", None)

            heard[0] = float("inf")  # the user is answering: the call's timeout waits
            try:
                return asker(on_cell_thread)
            finally:
                heard[0] = time.monotonic()

        answer = await asyncio.to_thread(ask)
        action, content = answer if isinstance(answer, tuple) else ("decline", None)
        return ElicitResult(action=action, content=content)

    async def _roots(self, context: Any) -> Any:
        """``roots/list``: the notebook's folder, the one place a server is told it may work in."""
        from mcp.types import ListRootsResult, Root

        folder = self.folder
        if folder is None:
            return ListRootsResult(roots=[])
        root = Root.model_validate({"uri": folder.resolve().as_uri(), "name": folder.name or str(folder)})
        return ListRootsResult(roots=[root])

    def _transport(self) -> tuple[Any, ...]:
        """(SDK transport, resources to close with it); ``${VAR}`` expanded here."""
        from mcp.client.stdio import StdioServerParameters, stdio_client
        from mcp.client.streamable_http import streamable_http_client

        c = self.config
        try:
            if c.command:
                env = {k: expand(v) for k, v in c.env}
                cwd = Path(expand(c.cwd)) if c.cwd else self.folder
                if cwd is not None and not cwd.is_absolute() and self.folder is not None:
                    cwd = self.folder / cwd
                args = [expand(a) for a in c.args]
                command = [expand(c.command), *args]
                if os.name == "posix":  # elsewhere the SDK's job object ends the server with us
                    command = [sys.executable, "-I", "-S", LAUNCHER, str(os.getpid()), *command]
                params = StdioServerParameters(command=command[0], args=command[1:], env=env or None, cwd=cwd)
                # the kernel's sys.stderr has no fileno: the server's stderr goes to a real file
                self._errlog = tempfile.TemporaryFile("w+", prefix=f"hermes_nb-mcp-{c.name}-")
                return (stdio_client(params, errlog=self._errlog),)
            import httpx2

            headers = {k: expand(v) for k, v in c.headers}
            http = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30.0, read=300.0))
            return (streamable_http_client(expand(c.url or ""), http_client=http), http)
        except McpError as exc:
            raise McpError(str(exc)) from None

    # -- calls ------------------------------------------------------------------------

    def call(
        self,
        tool: str,
        arguments: dict[str, Any],
        timeout: float,
        cancel: threading.Event | None,
        asker: Any = None,
    ) -> Any:
        """The server's ``CallToolResult``; McpError on timeout or a dead server.

        ``concurrent.futures.CancelledError`` when ``cancel`` is set: the SDK then
        tells the server the request was cancelled.
        """
        heard = self._heard = [0.0]
        self._asker = asker
        tap = current_tap()  # the live view of this call, set on the thread that calls

        async def progress(done: float, total: float | None, message: str | None) -> None:
            heard[0] = time.monotonic()  # the server is working: the timeout counts from now
            log.debug("%s/%s progress %s/%s %s", self.name, tool, done, total, message or "")
            if tap is not None:
                tap("stdout", progress_line(done, total, message))

        try:
            return self._request(
                lambda client: client.call_tool(tool, arguments, progress_callback=progress),
                tool, timeout, cancel, alive_at=lambda: heard[0],
            )
        finally:
            self._asker = None

    def read(self, uri: str, timeout: float, cancel: threading.Event | None) -> Any:
        """The server's ``ReadResourceResult`` for ``uri``; errors as for ``call``."""
        return self._request(lambda client: client.read_resource(uri), "read_resource", timeout, cancel)

    def _request(
        self, make: Any, what: str, timeout: float, cancel: threading.Event | None, alive_at: Any = None
    ) -> Any:
        client = self._client
        if self.state != "running" or client is None:
            raise McpError(f"the MCP server {self.name!r} is not running ({self.error or self.state})")
        future = self._runtime.submit(make(client))
        try:
            return wait(future, timeout, cancel, alive_at)
        except TimeoutError:
            raise McpError(
                f"{self.name}/{what} did not answer within {timeout:g} s (nor report progress), so the call "
                "was cancelled "
                "(raise the server's 'timeout' or AgentMagics.mcp_timeout if it needs longer)"
            ) from None
        except concurrent.futures.CancelledError:
            raise
        except Exception as exc:
            if _closed(exc):
                self._died("stopped during a call")
                raise McpError(f"the MCP server {self.name!r} stopped during this call") from None
            raise McpError(f"{self.name}/{what} failed: {_leaf(exc)}") from None

    # -- messages ---------------------------------------------------------------------

    def _reason(self, exc: BaseException, timeout: float) -> str:
        if isinstance(exc, concurrent.futures.CancelledError):
            return "stopped while starting"
        if isinstance(exc, TimeoutError):
            return f"no answer within {timeout:g} s{self._stderr_hint()}"
        hint = self._stderr_hint()
        return hint.removeprefix(" (stderr: ").removesuffix(")") if hint else _leaf(exc)

    def _stderr_hint(self) -> str:
        line = self.stderr_tail()
        return f" (stderr: {line})" if line else ""

    def stderr_tail(self) -> str:
        """The last line the server wrote to stderr (stdio servers), for messages: redacted,
        since a server that fails often prints its configuration, keys included."""
        errlog = self._errlog
        if errlog is None:
            return ""
        try:
            fd = errlog.fileno()
            size = os.fstat(fd).st_size
            data = os.pread(fd, 2000, max(0, size - 2000)).decode("utf-8", "replace")
        except (OSError, ValueError):
            return ""
        cause = stderr_cause(data)
        return redact(cause)[:300] if cause else ""


#: lines that say where to read more, not what went wrong (npm's closing line, a bare code)
_NOISE = re.compile(
    r"complete log of this run can be found|^npm (?:error|ERR!)(?: code \S+| \d{3})?\s*$|"
    r"^npm (?:error|ERR!) (?:\d{3} )?(?:Note that you can also|tarball, folder, http url)",
    re.IGNORECASE,
)
_NPM = re.compile(r"^npm (?:error|ERR!) ", re.IGNORECASE)


def stderr_cause(text: str) -> str:
    """The line of a server's stderr that says why it failed: npm's first real error
    line (its 404, not where its log went), else the last line (a traceback's)."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    useful = [ln for ln in lines if not _NOISE.search(ln)]
    npm = [ln for ln in useful if _NPM.match(ln)]
    if npm:
        return npm[0]
    return (useful or lines or [""])[-1]


async def _list_tools(client: Any, refresh: bool = False) -> list[ToolInfo]:
    tools: list[ToolInfo] = []
    cursor = None
    for _ in range(100):  # a server that pages forever must not hang the start
        page = await client.list_tools(cursor=cursor, cache_mode="refresh" if refresh else "use")
        for t in page.tools:
            if getattr(getattr(t, "execution", None), "task_support", None) == "required":
                continue  # task mode (a call answered later, by polling) is not supported: not offered
            tools.append(ToolInfo(t.name, t.description or t.title or "", dict(t.input_schema)))
        cursor = page.next_cursor
        if not cursor:
            break
    return tools


async def _offers_resources(client: Any) -> bool:
    """Whether the server has resources to read: it declares them and lists some (a
    server built on a framework may declare the capability with nothing behind it)."""
    try:
        if client.server_capabilities.resources is None:
            return False
        if (await client.list_resources()).resources:
            return True
        return bool((await client.list_resource_templates()).resource_templates)
    except Exception:  # not negotiated, or the listing failed: then none we can offer
        log.debug("listing resources failed", exc_info=True)
        return False


def _leaf(exc: BaseException) -> str:
    """The first real error inside (anyio wraps task failures in exception groups)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _closed(exc: BaseException) -> bool:
    """Whether an exception means the connection is gone (not a tool's own error)."""
    from mcp.shared.exceptions import MCPError
    from mcp.types import CONNECTION_CLOSED

    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, MCPError):
        return exc.code == CONNECTION_CLOSED
    import anyio

    return isinstance(exc, (anyio.ClosedResourceError, anyio.BrokenResourceError, ConnectionError, EOFError))


def progress_line(done: Any, total: Any, message: Any) -> str:
    """One line of a server's progress report for the tool's live output (the server's
    words cut short: it names them, the page escapes them)."""
    def number(value: Any) -> str:
        return f"{value:g}" if isinstance(value, (int, float)) else "?"

    amount = number(done) + (f"/{number(total)}" if total is not None else "")
    words = " ".join(str(message).split())[:200] if message else ""
    return f"progress {amount}" + (f": {words}" if words else "") + "\n"
