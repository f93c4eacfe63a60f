"""A server's MCP tools as hermes_nb tools named ``server__tool``.

Chat APIs accept tool names of ``[A-Za-z0-9_-]{1,64}``. A name that had to be changed
to fit (``get.user``, a name past 64 characters) gets a short hash of the server's and
the tool's own names, so it never lands on another tool's name (``get_user``) and stays
the same from run to run, whatever other tools come and go.

Each keeps the server's own JSON Schema (the server validates the arguments) and
gets the server's policy (default ``ask``: a server's tools are someone else's
code). The call runs on the agent's worker thread and waits for the MCP loop,
watching the run's cancel so the stop button ends the call within a second.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import re
from collections.abc import Iterable
from typing import Any

from hermes_nb.agent.toolrun import CANCELLED
from hermes_nb.agent.tools.registry import Tool, ToolOutput, current_asker, current_cancel
from hermes_nb.mcp.connection import Connection, ToolInfo
from hermes_nb.mcp.results import resource_output, to_tool_output

__all__ = ["READ_RESOURCE", "assign_names", "make_tools", "offered", "tool_name"]

#: the tool hermes_nb adds to a server that offers resources: it reads one by URI
READ_RESOURCE = "read_resource"
_READ_SCHEMA = {
    "type": "object",
    "properties": {"uri": {"type": "string", "description": "The resource's URI, as the server gave it"}},
    "required": ["uri"],
}

_BAD = re.compile(r"[^A-Za-z0-9_-]")
_MAX = 64


def tool_name(server: str, tool: str) -> str:
    """``server__tool`` when that is a valid name as it is; otherwise the name made valid
    (letters, digits, _ and -, 64 at most) with ``_`` and a hash of the two names."""
    plain = f"{server}__{tool}"
    if len(plain) <= _MAX and not _BAD.search(plain):
        return plain
    return _hashed(server, tool, 8)


def _hashed(server: str, tool: str, digits: int) -> str:
    suffix = hashlib.sha256(f"{server}\0{tool}".encode("utf-8", "surrogatepass")).hexdigest()[:digits]
    return f"{_BAD.sub('_', f'{server}__{tool}')[: _MAX - digits - 1]}_{suffix}"


def assign_names(pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """A distinct valid name for every (server, tool). Names kept as they are go first;
    a name still taken (``a`` + ``b__c`` and ``a__b`` + ``c``) takes a longer hash."""
    names: dict[tuple[str, str], str] = {}
    taken: set[str] = set()
    for pair in sorted(set(pairs), key=lambda p: (tool_name(*p) != f"{p[0]}__{p[1]}", p)):
        name, digits = tool_name(*pair), 8
        while name in taken and digits < 48:
            digits += 4
            name = _hashed(*pair, digits)
        names[pair] = name
        taken.add(name)
    return names


def offered(conn: Connection) -> list[str]:
    """The tool names a running server offers through hermes_nb: its own, plus
    ``read_resource`` when it has resources (so a resource link it gives can be read)."""
    names = [info.name for info in conn.tools]
    if conn.has_resources and READ_RESOURCE not in names:
        names.append(READ_RESOURCE)
    return names


def make_tools(conn: Connection, default_timeout: float, names: dict[tuple[str, str], str] | None = None) -> list[Tool]:
    """One Tool per tool the running server offers, named by ``names`` (see ``assign_names``)."""
    config = conn.config
    policies = dict(config.tool_policies)
    timeout = config.timeout or default_timeout
    names = names or assign_names((config.name, name) for name in offered(conn))
    tools = [
        Tool(
            name=names[(config.name, info.name)],
            description=info.description or f"{info.name} (from the MCP server {config.name!r})",
            parameters=_schema(info),
            func=_caller(conn, info.name, timeout),
            policy=policies.get(info.name, config.policy),  # type: ignore[arg-type]
        )
        for info in conn.tools
    ]
    if READ_RESOURCE in offered(conn) and READ_RESOURCE not in {i.name for i in conn.tools}:
        tools.append(
            Tool(
                name=names[(config.name, READ_RESOURCE)],
                description=f"Read a resource of the MCP server {config.name!r} by its URI "
                "(for instance one a tool of that server linked to).",
                parameters=dict(_READ_SCHEMA),
                func=_reader(conn, timeout),
                policy=policies.get(READ_RESOURCE, config.policy),  # type: ignore[arg-type]
            )
        )
    return tools


def _reader(conn: Connection, timeout: float) -> Any:
    def read_mcp_resource(uri: str) -> ToolOutput:
        try:
            return resource_output(conn.read(uri, timeout, current_cancel()))
        except concurrent.futures.CancelledError:
            return ToolOutput(CANCELLED, is_error=True)

    return read_mcp_resource


def _caller(conn: Connection, name: str, timeout: float) -> Any:
    def call_mcp_tool(**arguments: Any) -> ToolOutput:
        try:
            return to_tool_output(conn.call(name, arguments, timeout, current_cancel(), current_asker()))
        except concurrent.futures.CancelledError:
            # the same words as a call the loop cancels itself: this one may return first
            return ToolOutput(CANCELLED, is_error=True)

    call_mcp_tool.__name__ = name
    return call_mcp_tool


def _schema(info: ToolInfo) -> dict[str, Any]:
    schema = dict(info.input_schema or {})
    schema.setdefault("type", "object")
    if schema["type"] == "object":
        schema.setdefault("properties", {})
    return schema
