"""A server's MCP tools as hermes_nb tools named ``server__tool``.

Each keeps the server's own JSON Schema (the server validates the arguments) and
gets the server's policy (default ``ask``: a server's tools are someone else's
code). The call runs on the agent's worker thread and waits for the MCP loop,
watching the run's cancel so the stop button ends the call within a second.
"""

from __future__ import annotations

import concurrent.futures
import re
from typing import Any

from hermes_nb.agent.toolrun import CANCELLED
from hermes_nb.agent.tools.registry import Tool, ToolOutput, current_cancel
from hermes_nb.mcp.connection import Connection, ToolInfo
from hermes_nb.mcp.results import to_tool_output

__all__ = ["make_tools", "tool_name"]

_BAD = re.compile(r"[^A-Za-z0-9_-]")


def tool_name(server: str, tool: str) -> str:
    """``server__tool``, made acceptable to every chat API (letters, digits, _ and -, 64 max)."""
    return _BAD.sub("_", f"{server}__{tool}")[:64]


def make_tools(conn: Connection, default_timeout: float) -> list[Tool]:
    """One Tool per tool the running server listed."""
    config = conn.config
    policies = dict(config.tool_policies)
    timeout = config.timeout or default_timeout
    return [
        Tool(
            name=tool_name(config.name, info.name),
            description=info.description or f"{info.name} (from the MCP server {config.name!r})",
            parameters=_schema(info),
            func=_caller(conn, info.name, timeout),
            policy=policies.get(info.name, config.policy),  # type: ignore[arg-type]
        )
        for info in conn.tools
    ]


def _caller(conn: Connection, name: str, timeout: float) -> Any:
    def call_mcp_tool(**arguments: Any) -> ToolOutput:
        try:
            return to_tool_output(conn.call(name, arguments, timeout, current_cancel()))
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
