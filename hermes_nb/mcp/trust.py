"""Which notebook folders' MCP servers the user approved.

A folder's ``.hermes_nb/mcp.json`` comes with the folder: a clone, a download, a
shared drive. Its stdio servers are commands, its HTTP servers addresses, and
``${VAR}`` in them would hand the user's secrets to whoever wrote the file. So such
a server stays off (nothing started, nothing fetched, no variable read for it) until
the user approves it with ``%agent mcp trust``.

An approval is kept outside the folder, next to the user's own ``mcp.json`` in the
Jupyter config folder (``mcp_trust.json``), so the folder cannot approve itself. It
holds for one folder (its resolved path) and one exact entry (a hash of it): a
changed entry, or the same entry in another folder, asks again.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from hermes_nb.errors import McpError
from hermes_nb.mcp.settings import ServerConfig, user_config_dir
from hermes_nb.safety.fsio import atomic_write_bytes, json_bytes

__all__ = ["TRUST_NAME", "approve", "is_trusted", "revoke", "trust_path", "waiting", "waiting_line"]

log = logging.getLogger("hermes_nb.mcp")

TRUST_NAME = "mcp_trust.json"
_MAX_BYTES = 4 * 1024 * 1024  # the file is the user's own; this only bounds a mistake


def trust_path() -> Path | None:
    """Where approvals are kept (None when there is no Jupyter config folder)."""
    folder = user_config_dir()
    return None if folder is None else folder / "hermes_nb" / TRUST_NAME


def _key(folder: Path) -> str:
    return str(folder.resolve())


def _load() -> dict[str, dict[str, str]]:
    """``{resolved folder: {server name: entry digest}}``; an unreadable file approves nothing."""
    path = trust_path()
    if path is None:
        return {}
    try:
        with open(path, "rb") as f:
            raw = f.read(_MAX_BYTES + 1)
        if len(raw) > _MAX_BYTES:
            raise ValueError("too large")
        data: Any = json.loads(raw)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("cannot read %s (no folder MCP server is approved): %s", path, exc)
        return {}
    folders = data.get("folders") if isinstance(data, dict) else None
    if not isinstance(folders, dict):
        return {}
    return {
        str(k): {str(n): str(d) for n, d in v.items() if isinstance(d, str)}
        for k, v in folders.items()
        if isinstance(v, dict)
    }


def _save(folders: dict[str, dict[str, str]]) -> Path:
    path = trust_path()
    if path is None:
        raise McpError("there is no Jupyter config folder to remember the approval in")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, json_bytes({"version": 1, "folders": {k: v for k, v in folders.items() if v}}))
    except OSError as exc:
        raise McpError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


def is_trusted(config: ServerConfig, folder: Path | None, approvals: dict[str, dict[str, str]] | None = None) -> bool:
    """Whether this server may start: the user's own always, a folder's only as approved."""
    if not config.from_folder:
        return True
    if folder is None:
        return False
    approvals = _load() if approvals is None else approvals
    return bool(config.digest) and approvals.get(_key(folder), {}).get(config.name) == config.digest


def waiting(servers: dict[str, ServerConfig], folder: Path | None) -> list[str]:
    """The folder servers that wait for approval, by name."""
    if not any(c.from_folder for c in servers.values()):
        return []  # no file to read
    approvals = _load()
    return [n for n, c in servers.items() if not is_trusted(c, folder, approvals)]


def approve(configs: Iterable[ServerConfig], folder: Path) -> Path:
    """Approve these folder servers (as configured now) for ``folder``; the file's path."""
    folders = _load()
    entry = folders.setdefault(_key(folder), {})
    for config in configs:
        entry[config.name] = config.digest
    return _save(folders)


def revoke(folder: Path, names: Iterable[str] | None = None) -> list[str]:
    """Withdraw approvals for ``folder`` (all, or these names); the names withdrawn."""
    folders = _load()
    entry = folders.get(_key(folder), {})
    gone = sorted(entry if names is None else set(names) & set(entry))
    if gone:
        for name in gone:
            del entry[name]
        _save(folders)
    return gone


def waiting_line(names: list[str], path: Path) -> str:
    """The one line a run shows while folder servers wait."""
    return (
        f"MCP: {path} names servers that wait for your approval: {', '.join(names)} "
        "(nothing of theirs runs; review them with %agent mcp, approve with %agent mcp trust, "
        "revoke with %agent mcp untrust)"
    )
