"""The tools a run offers: the built-in and notebook tools built once, the rest fresh.

Building a tool reads its function's signature, type hints and docstring into a JSON
schema, which cost every ``%%agent`` cell 2-3 ms before its request could leave. The
built-in and notebook tools only change with what they are bound to (the kernel's
namespace, the shell timeout, the notebook's folder), so they are built once for
those and rebuilt when one of them changes. Tools that can change between runs are
read at each run, and cost nothing to read: ``@hermes_nb.tool`` functions (their
schema is made when they are decorated) and MCP servers' tools (the manager keeps
the servers; a server started, stopped or reconfigured shows at the next run).
Approval policies are not part of a tool's schema: the agent applies
``AgentMagics.tool_policies`` at each run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hermes_nb.agent.tools import registry as _registry
from hermes_nb.agent.tools.registry import ToolRegistry

__all__ = ["Toolset"]


@dataclass(frozen=True)
class _Binding:
    """What the built-in and notebook tools are bound to: a change rebuilds them."""

    shell: int
    namespace: int
    shell_timeout: float
    root: Path | None


class Toolset:
    """One kernel's tools (one per ``AgentMagics``); ``for_run`` gives a run its registry."""

    def __init__(self, running_request: Callable[[], str | None] = lambda: None) -> None:
        self._running_request = running_request
        self._lock = threading.Lock()
        self._built: tuple[_Binding, ToolRegistry] | None = None
        #: how many times the built-in tools were built (a rebuild means a binding changed)
        self.builds = 0

    def fixed(self, shell: Any, *, shell_timeout: float, root: Path | None) -> ToolRegistry:
        """The built-in and notebook tools for this binding (built on first use).

        Callers get the cached registry itself: copy it before adding tools.
        """
        from hermes_nb.agent.tools.builtin import builtin_tools
        from hermes_nb.kernel.notebook_tools import notebook_tools

        user_ns = shell.user_ns if shell is not None else None
        binding = _Binding(id(shell), id(user_ns), float(shell_timeout), root)
        with self._lock:
            if self._built is not None and self._built[0] == binding:
                return self._built[1]
        registry = builtin_tools(user_ns, shell_timeout=shell_timeout, root=root)
        registry.update(notebook_tools(shell, running_request=self._running_request, root=root))
        with self._lock:
            self._built = (binding, registry)
            self.builds += 1
        return registry

    def for_run(
        self,
        shell: Any,
        *,
        shell_timeout: float,
        root: Path | None,
        mcp_servers: dict[str, Any],
        mcp_folder: Path,
        mcp_timeout: float,
        mcp_start_timeout: float,
        mcp_start_wait: float | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> tuple[ToolRegistry, list[str]]:
        """A run's own registry (the fixed tools, ``@tool`` functions, MCP tools) and
        one line per MCP problem."""
        from hermes_nb.mcp import tools_for_run

        registry = self.fixed(shell, shell_timeout=shell_timeout, root=root).copy()
        for tool in _registry.USER_TOOLS:  # looked up now: a test may swap it
            registry.register(tool)
        mcp_tools, notices = tools_for_run(
            mcp_servers,
            mcp_folder,
            call_timeout=mcp_timeout,
            start_timeout=mcp_start_timeout,
            start_wait=mcp_start_wait,
            progress=progress,
        )
        for mcp_tool in mcp_tools:
            registry.register(mcp_tool)
        return registry, notices
