"""An MCP server for the tests, built with the SDK: stdio by default, ``--http PORT``
for streamable HTTP on 127.0.0.1 (``--http 0 PORT_FILE``: on a port the system picks,
written to PORT_FILE once the server listens). ``MCP_TEST_PIDFILE`` (if set) receives
its pid."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import sys
import time

from mcp.server.mcpserver import Context, Image, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

server = MCPServer("hermes-test")

# a 1x1 red PNG
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
)


@server.tool()
def add(a: int, b: int) -> str:
    """Add two integers."""
    return str(a + b)


@server.tool()
def echo(text: str) -> str:
    """Return the text unchanged."""
    return text


@server.tool()
def fail(reason: str = "broken on purpose") -> str:
    """Always fail, with the reason as the tool's error."""
    raise ToolError(reason)


@server.tool()
def crash() -> str:
    """Kill this server in the middle of the call."""
    sys.stdout.flush()
    os._exit(3)


@server.tool()
async def hang(seconds: float = 3600.0) -> str:
    """Answer after a long time (never, for the tests)."""
    await asyncio.sleep(seconds)
    return "woke up"


@server.tool()
def block(seconds: float = 3600.0) -> str:
    """Block the whole server (a sync sleep): it cannot even see its stdin close."""
    time.sleep(seconds)
    return "woke up"


@server.tool()
def picture() -> Image:
    """A tiny red picture."""
    return Image(data=PNG, format="png")


@server.tool()
def whoami() -> str:
    """This server's process id."""
    return str(os.getpid())


@server.tool()
async def slow(steps: int = 6, every: float = 0.5) -> str:
    """Take steps * every seconds, saying nothing."""
    await asyncio.sleep(steps * every)
    return "finished"


@server.tool()
async def slow_with_progress(ctx: Context, steps: int = 6, every: float = 0.5) -> str:
    """Take steps * every seconds, reporting progress at each step."""
    for i in range(steps):
        await asyncio.sleep(every)
        await ctx.report_progress(i + 1, steps, f"step {i + 1}")
    return "finished"


# names that clash once made to fit a chat API's [A-Za-z0-9_-]{1,64}
LONG = "look_up_a_record_in_the_archive_by_its_full_identifier_and_return_it"


@server.tool(name="lookup.user")
def lookup_user_dotted() -> str:
    """Answer with this tool's own name."""
    return "lookup.user"


@server.tool(name="lookup_user")
def lookup_user_plain() -> str:
    """Answer with this tool's own name."""
    return "lookup_user"


@server.tool(name=LONG + "_first")
def long_first() -> str:
    """Answer with which of the two long names this is."""
    return "first"


@server.tool(name=LONG + "_second")
def long_second() -> str:
    """Answer with which of the two long names this is."""
    return "second"


def serve_http(port: int, port_file: str | None) -> None:
    """Streamable HTTP on a socket bound here, so the port is known before serving
    (connections made meanwhile wait in the socket's backlog)."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", port))
    sock.listen(64)
    if port_file:
        tmp = f"{port_file}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            f.write(str(sock.getsockname()[1]))
        os.replace(tmp, port_file)
    app = server.streamable_http_app(host="127.0.0.1")
    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])


if __name__ == "__main__":
    pidfile = os.environ.get("MCP_TEST_PIDFILE")
    if pidfile:
        with open(pidfile, "a") as f:
            f.write(f"{os.getpid()}\n")
    if len(sys.argv) > 2 and sys.argv[1] == "--http":
        serve_http(int(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else None)
    else:
        server.run()
