"""Tools the agent can call: the registry, the user decorator and the built-ins.

Part of the agent layer: may import the rest of ``hermes_nb.agent``, safety and
errors; no Jupyter, except the ``python`` tool's use of a running IPython's display
publisher. Tools that need the notebook itself live in ``hermes_nb.kernel``.
"""

from __future__ import annotations

from hermes_nb.agent.tools.registry import (
    USER_TOOLS,
    Tool,
    ToolOutput,
    ToolRegistry,
    current_cancel,
    tool,
)

__all__ = ["USER_TOOLS", "Tool", "ToolOutput", "ToolRegistry", "builtin_tools", "current_cancel", "tool"]


def builtin_tools(namespace: dict | None = None, shell_timeout: float = 60.0) -> ToolRegistry:
    """The built-in tools (imported lazily: they pull in subprocess and IPython helpers)."""
    from hermes_nb.agent.tools.builtin import builtin_tools as _builtin_tools

    return _builtin_tools(namespace, shell_timeout)
