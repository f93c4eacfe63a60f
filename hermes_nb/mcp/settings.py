"""Which MCP servers to use: the ``mcp.json`` files and the ``mcp_servers`` setting.

The format is the one other MCP clients already use::

    {"mcpServers": {
        "files": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "."]},
        "search": {"url": "https://example.com/mcp", "headers": {"Authorization": "Bearer ${TOKEN}"}}
    }}

plus optional hermes_nb keys per server: ``policy`` (``allow``/``ask``/``deny`` for all
its tools, default ``ask``), ``tool_policies`` (``{tool: policy}``), ``timeout``
(seconds per call) and ``disabled``. Sources: the user's Jupyter config folder, then
``AgentMagics.mcp_servers`` (which wins on a name clash), and the notebook's folder.
A folder's file is someone else's as often as not (a clone): its servers never
replace a server of the user's with the same name, and they wait for the user's
approval before anything of theirs runs (see ``trust``). ``${VAR}`` in any string is
replaced by that environment variable when the server starts, so secrets stay out of
the files.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hermes_nb.agent.tools.registry import POLICIES
from hermes_nb.errors import McpError

__all__ = [
    "CONFIG_NAME",
    "ServerConfig",
    "config_paths",
    "expand",
    "folder_config",
    "load_servers",
    "parse_servers",
    "user_config_dir",
]

CONFIG_NAME = "mcp.json"
#: a config file is a few KB; a folder's could be anything, so reading it is bounded
MAX_CONFIG_BYTES = 1024 * 1024
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_KNOWN = {
    "command", "args", "env", "cwd", "url", "headers", "type", "transport",
    "policy", "tool_policies", "timeout", "disabled", "description",
}  # fmt: skip


@dataclass(frozen=True)
class ServerConfig:
    """One server as configured (``${VAR}`` not yet expanded; see ``expand``)."""

    name: str
    command: str | None = None
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    cwd: str | None = None
    url: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    policy: str = "ask"
    tool_policies: tuple[tuple[str, str], ...] = ()
    timeout: float | None = None
    source: str = ""
    #: "user" (the Jupyter config folder's file), "setting" or "folder" (the notebook's)
    scope: str = "user"
    #: a hash of the entry as written: a folder server's approval holds for this exact entry
    digest: str = ""
    extra: tuple[str, ...] = field(default=(), compare=False)

    @property
    def from_folder(self) -> bool:
        return self.scope == "folder"

    @property
    def transport(self) -> str:
        return "stdio" if self.command else "http"

    def target(self) -> str:
        """What to show the user: the command line or the URL (never header values)."""
        if self.command:
            return " ".join([self.command, *self.args])
        return self.url or ""


#: jupyter's config folder for the environment variables that decide it (looked up at
#: every run, and finding the home folder resolves paths: a tenth of a millisecond)
_CONFIG_DIRS: dict[tuple[str | None, ...], Path | None] = {}


def user_config_dir() -> Path | None:
    """The user's Jupyter config folder (``JUPYTER_CONFIG_DIR``, else ``~/.jupyter``)."""
    key = tuple(os.environ.get(name) for name in ("JUPYTER_NO_CONFIG", "JUPYTER_CONFIG_DIR", "HOME"))
    if key not in _CONFIG_DIRS:
        try:
            from jupyter_core.paths import jupyter_config_dir
        except ImportError:  # jupyter_core comes with ipykernel; without it there is no user file
            _CONFIG_DIRS[key] = None
        else:
            _CONFIG_DIRS[key] = Path(jupyter_config_dir())
    return _CONFIG_DIRS[key]


def config_paths(notebook_dir: Path | None) -> list[Path]:
    """The config files, lowest priority first."""
    paths: list[Path] = []
    user = user_config_dir()
    if user is not None:
        paths.append(user / "hermes_nb" / CONFIG_NAME)
    if notebook_dir is not None:
        paths.append(folder_config(notebook_dir))
    return paths


def folder_config(notebook_dir: Path) -> Path:
    """The notebook folder's own file (whose servers wait for approval)."""
    return notebook_dir / ".hermes_nb" / CONFIG_NAME


def load_servers(
    notebook_dir: Path | None, setting: Mapping[str, Any] | None = None
) -> tuple[dict[str, ServerConfig], list[str]]:
    """All configured servers by name, and one line per problem found (bad files, bad
    entries, a folder entry that names one of the user's servers).

    A broken file or entry is reported and skipped; the others still load.
    """
    servers: dict[str, ServerConfig | None] = {}
    problems: list[str] = []
    user = user_config_dir()
    if user is not None:
        found, bad = _read(user / "hermes_nb" / CONFIG_NAME, "user")
        servers.update(found)
        problems += bad
    if setting:
        found, bad = parse_servers(dict(setting), "AgentMagics.mcp_servers", "setting")
        servers.update(found)
        problems += bad
    if notebook_dir is not None:
        path = folder_config(notebook_dir)
        found, bad = _read(path, "folder")
        problems += bad
        clashes = sorted(set(found) & set(servers))
        if clashes:
            problems.append(
                f"MCP: {path}: ignoring {', '.join(clashes)}: you configure a server of that name "
                "yourself, and a notebook folder never replaces your servers"
            )
        servers.update({n: s for n, s in found.items() if n not in servers})
    return {n: s for n, s in servers.items() if s is not None}, problems


def _read(path: Path, scope: str) -> tuple[dict[str, ServerConfig | None], list[str]]:
    if not path.is_file():  # a FIFO or a device is not read (it could hang or never end)
        return {}, []
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_CONFIG_BYTES + 1)
        if len(raw) > MAX_CONFIG_BYTES:
            return {}, [f"MCP: cannot read {path}: larger than {MAX_CONFIG_BYTES // 1024} KB"]
        data = json.loads(raw.decode("utf-8"))
    except (OSError, ValueError) as exc:
        return {}, [f"MCP: cannot read {path}: {exc}"]
    return parse_servers(data, str(path), scope)


def parse_servers(
    data: Any, source: str, scope: str = "user"
) -> tuple[dict[str, ServerConfig | None], list[str]]:
    """Servers from ``{"mcpServers": {...}}`` (or the inner mapping alone); a disabled
    server maps to None, so it hides the same name from a file read earlier."""
    if isinstance(data, dict) and "mcpServers" in data:
        data = data["mcpServers"]
    if not isinstance(data, dict):
        return {}, [f"MCP: {source}: expected {{\"mcpServers\": {{name: {{...}}}}}}"]
    servers: dict[str, ServerConfig | None] = {}
    problems: list[str] = []
    for name, entry in data.items():
        try:
            servers[str(name)] = parse_server(str(name), entry, source, scope)
        except McpError as exc:
            problems.append(f"MCP: {source}: {exc}")
    return servers, problems


def parse_server(name: str, entry: Any, source: str = "", scope: str = "user") -> ServerConfig | None:
    """One entry; None when it is disabled. Raises McpError saying what is wrong."""
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,40}", name):
        raise McpError(f"server name {name!r}: use 1-40 letters, digits, '_' or '-'")
    if not isinstance(entry, dict):
        raise McpError(f"server {name!r}: expected an object with 'command' or 'url'")
    if entry.get("disabled"):
        return None
    command, url = entry.get("command"), entry.get("url")
    kind = str(entry.get("type") or entry.get("transport") or "").lower()
    if kind == "sse":
        raise McpError(f"server {name!r}: the old SSE transport is not supported; use streamable HTTP")
    if bool(command) == bool(url):
        raise McpError(f"server {name!r}: give either 'command' (stdio) or 'url' (HTTP), not both or neither")
    policy = str(entry.get("policy", "ask"))
    tool_policies = _str_map(entry.get("tool_policies"), name, "tool_policies")
    for what, value in [("policy", policy), *tool_policies]:
        if value not in POLICIES:
            raise McpError(f"server {name!r}: unknown {what} {value!r}; use one of {', '.join(POLICIES)}")
    timeout = entry.get("timeout")
    if timeout is not None and (not isinstance(timeout, (int, float)) or timeout <= 0):
        raise McpError(f"server {name!r}: 'timeout' must be a positive number of seconds")
    args = entry.get("args") or []
    if not isinstance(args, list):
        raise McpError(f"server {name!r}: 'args' must be a list of strings")
    return ServerConfig(
        name=name,
        command=str(command) if command else None,
        args=tuple(str(a) for a in args),
        env=_str_map(entry.get("env"), name, "env"),
        cwd=str(entry["cwd"]) if entry.get("cwd") else None,
        url=str(url) if url else None,
        headers=_str_map(entry.get("headers"), name, "headers"),
        policy=policy,
        tool_policies=tool_policies,
        timeout=float(timeout) if timeout is not None else None,
        source=source,
        scope=scope,
        digest=entry_digest(entry),
        extra=tuple(sorted(set(entry) - _KNOWN)),
    )


def entry_digest(entry: Any) -> str:
    """SHA-256 of the entry's canonical JSON: any change to it gives another digest."""
    text = json.dumps(entry, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _str_map(value: Any, name: str, key: str) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise McpError(f"server {name!r}: {key!r} must be an object of strings")
    return tuple((str(k), str(v)) for k, v in value.items())


def expand(text: str, environ: Mapping[str, str] | None = None) -> str:
    """Replace each ``${VAR}`` by its value; McpError names a variable that is not set."""
    env = os.environ if environ is None else environ

    def value(match: re.Match[str]) -> str:
        var = match.group(1)
        if var not in env:
            raise McpError(f"the environment variable {var} is not set")
        return env[var]

    return _VAR.sub(value, text)
