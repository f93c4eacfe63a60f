"""Tools from Model Context Protocol servers, through the official ``mcp`` SDK.

The SDK speaks the protocol; this package only configures servers (``settings``),
keeps them running for the kernel's lifetime on a loop of its own (``runtime``,
``connection``, ``manager``), makes sure a stdio server dies with the kernel
(``launcher``) and turns their tools and results into hermes_nb's (``tools``,
``results``). A notebook folder's servers wait for the user's approval (``trust``).
Nothing here imports the SDK until a server is configured.

May import: agent (a server's tools become the agent's ``Tool`` objects), safety,
errors and the ``_version`` leaf. Not ui, context, store or kernel; the kernel side
starts the servers and hands their tools to a run.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from hermes_nb.agent.tools.registry import Tool

__all__ = ["approve_folder", "describe", "restart", "revoke_folder", "tools_for_run"]


def tools_for_run(
    setting: dict[str, Any],
    folder: Path | None,
    *,
    call_timeout: float,
    start_timeout: float,
    start_wait: float | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[list[Tool], list[str]]:
    """The MCP tools a run may use, and one line per problem (config or start).

    Servers not up within ``start_wait`` seconds join a later run (see ``manager``);
    ``progress`` hears which ones the run waits for, when that takes a moment."""
    from hermes_nb.mcp.settings import folder_config, load_servers
    from hermes_nb.mcp.trust import waiting, waiting_line

    servers, problems = load_servers(folder, setting)
    held = waiting(servers, folder)
    if held and folder is not None:
        problems.append(waiting_line(held, folder_config(folder)))
        servers = {n: c for n, c in servers.items() if n not in held}
    if not servers:
        from hermes_nb.mcp.manager import _MANAGER

        if _MANAGER is not None:  # approvals withdrawn, or the file changed: stop theirs
            _MANAGER.prepare({}, folder, call_timeout=call_timeout, start_timeout=start_timeout)
        return [], problems
    try:
        import mcp  # noqa: F401
    except ImportError:
        return [], [*problems, f"MCP servers are configured ({', '.join(servers)}) but the mcp "
                    "package is not installed: pip install 'hermes-nb[mcp]'"]
    from hermes_nb.mcp.manager import manager

    prepared = manager().prepare(
        servers, folder, call_timeout=call_timeout, start_timeout=start_timeout, wait=start_wait, progress=progress
    )
    return prepared.tools, problems + prepared.notices


def describe(
    setting: dict[str, Any], folder: Path | None, tool_policies: dict[str, str] | None = None
) -> str:
    """``%agent mcp``: every configured server, its state and its tools with the policy
    that applies (``tool_policies``, by full tool name, wins over the server's entry)."""
    from hermes_nb.mcp.manager import _MANAGER
    from hermes_nb.mcp.settings import config_paths, load_servers
    from hermes_nb.mcp.tools import READ_RESOURCE, assign_names, offered
    from hermes_nb.mcp.trust import waiting

    servers, problems = load_servers(folder, setting)
    held = set(waiting(servers, folder))
    lines = list(problems)
    if not servers:
        paths = " or ".join(str(p) for p in config_paths(folder))
        lines.append(f"No MCP servers configured (put them in {paths}, or AgentMagics.mcp_servers).")
        return "\n".join(lines)
    conns = _MANAGER.connections if _MANAGER is not None else {}
    running = {
        n: c for n, c in conns.items() if n in servers and c.config == servers[n] and c.state == "running"
    }
    names = assign_names((n, tool) for n, c in running.items() for tool in offered(c))
    width = max((len(full) for full in names.values()), default=0)
    for name, config in servers.items():
        conn = conns.get(name)
        state: str = conn.state if conn is not None and conn.config == config else "not started"
        if name in held:
            state = "waiting for your approval (%agent mcp trust)"
        elif config.from_folder:
            state += ", approved folder server"
        if conn is not None and conn.state == "running" and conn.start_seconds is not None:
            state += f" (started in {conn.start_seconds:.2f} s)"
        if conn is not None and conn.state == "failed" and conn.error:
            state += f": {conn.error}"
            if conn.failures:
                from hermes_nb.mcp.manager import retry_hint

                state += f" ({retry_hint(conn)})"
        lines.append(f"{name}  [{config.transport}] {config.target()}  {state}  (policy {config.policy})")
        if config.extra:
            lines.append(f"    unknown keys ignored: {', '.join(config.extra)}")
        policies = dict(config.tool_policies)
        conn = running.get(name)
        described = {info.name: info.description for info in conn.tools} if conn is not None else {}
        described.setdefault(READ_RESOURCE, "Read one of the server's resources by its URI (added by hermes_nb)")
        for tool in offered(conn) if conn is not None else ():
            full = names[(name, tool)]
            policy = (tool_policies or {}).get(full) or policies.get(tool, config.policy)
            summary = described[tool].strip().splitlines()[0][:70].strip() if described[tool] else ""
            if full != f"{name}__{tool}":  # renamed to fit the chat APIs: say which tool it is
                summary = f"(the server's {tool!r}) {summary}"
            lines.append(f"    {full:<{width}}  {policy:<5}  {summary}".rstrip())
    return "\n".join(lines)


def restart(name: str, setting: dict[str, Any], folder: Path | None, start_timeout: float) -> str:
    """``%agent mcp restart NAME``: McpError when it is unknown or does not start."""
    from hermes_nb.errors import McpError
    from hermes_nb.mcp.manager import manager
    from hermes_nb.mcp.settings import load_servers
    from hermes_nb.mcp.trust import is_trusted

    servers, _ = load_servers(folder, setting)
    config = servers.get(name)
    if config is None:
        known = ", ".join(servers) or "none"
        raise McpError(f"no MCP server named {name!r} is configured (configured: {known})")
    if not is_trusted(config, folder):
        raise McpError(f"the folder's server {name!r} waits for your approval: %agent mcp trust {name}")
    conn = manager().restart(config, folder, start_timeout)
    return f"Restarted {name}: {len(conn.tools)} tools, started in {conn.start_seconds or 0:.2f} s."


def approve_folder(name: str | None, setting: dict[str, Any], folder: Path) -> str:
    """``%agent mcp trust [NAME]``: approve the folder's servers as they are written now."""
    from hermes_nb.errors import McpError
    from hermes_nb.mcp.settings import folder_config, load_servers
    from hermes_nb.mcp.trust import approve, waiting

    servers, _ = load_servers(folder, setting)
    ours = {n: c for n, c in servers.items() if c.from_folder}
    if name is not None and name not in ours:
        raise McpError(f"{folder_config(folder)} has no server named {name!r} to approve"
                       + (f" (it has: {', '.join(ours)})" if ours else ""))
    held = [n for n in waiting(ours, folder) if name is None or n == name]
    if not held:
        return "Nothing waits for approval here." if ours else f"No servers in {folder_config(folder)}."
    path = approve([ours[n] for n in held], folder)
    return (f"Approved {', '.join(held)} from {folder_config(folder)} as written now (kept in {path}; "
            "a change to an entry asks again). They start at the next run.")


def revoke_folder(name: str | None, folder: Path) -> str:
    """``%agent mcp untrust [NAME]``: withdraw approvals for this folder and stop those servers."""
    from hermes_nb.mcp.manager import _MANAGER
    from hermes_nb.mcp.trust import revoke

    gone = revoke(folder, None if name is None else [name])
    if not gone:
        return "No approved folder server " + (f"named {name!r} " if name else "") + "here."
    if _MANAGER is not None:
        _MANAGER.stop(gone)
    return f"Withdrew the approval of {', '.join(gone)}; they are stopped and wait for approval again."
