"""hermes_nb: a tool-using LLM agent in Jupyter cells.

``%load_ext hermes_nb`` registers ``%%agent`` and ``%agent``. Importing the package is
cheap on purpose: providers, widgets and SDKs load on the first run.

The packages are layers: each imports only the ones below it, and siblings joined by
``|`` do not import each other (the import-linter contracts in ``pyproject.toml``,
run by ``tests/test_layers.py``, together with a test that no two modules import
each other):

    kernel | serverext  the notebook side: magics, the cell loop, a run's lifecycle |
                      the jupyter_server extension: sessions over REST for the page
    mcp | ui          tools from MCP servers | what a person sees of a run
    agent             the agent loop, providers and tools (no Jupyter)
    context | store   what the agent learns about the notebook | sessions on disk
    safety            guards every layer uses: file writes, redaction, depth, outputs
    errors | _version our exception types | the version

This module is the IPython extension's entry point and may import any of them;
nothing in the package imports it. ``models``, ``config``, ``session_ops`` and
``streaming`` keep older module names importable for code outside the package (thin
aliases over ``store`` and ``kernel``); nothing in the package imports them either.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from hermes_nb._version import __version__

# Silent unless the user configures logging: notices reach the cell, not stderr twice.
logging.getLogger("hermes_nb").addHandler(logging.NullHandler())


def _redact_logs() -> None:
    from hermes_nb.safety.redact import install_log_redaction

    install_log_redaction()


_redact_logs()

__all__ = ["__version__", "load_ipython_extension", "tool", "unload_ipython_extension"]

if TYPE_CHECKING:
    from hermes_nb.agent.tools.registry import tool


def load_ipython_extension(ipython: Any) -> None:
    """Register the magics and restore runs a dead kernel left behind."""
    from hermes_nb.kernel.magics import load

    load(ipython)


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """The built JupyterLab extension, for ``jupyter labextension develop``."""
    return [{"src": "labextension", "dest": "hermes-nb"}]


def unload_ipython_extension(ipython: Any) -> None:
    from hermes_nb.kernel.magics import unload

    unload(ipython)


def __getattr__(name: str) -> Any:
    if name == "tool":
        from hermes_nb.agent.tools.registry import tool

        return tool
    raise AttributeError(f"module 'hermes_nb' has no attribute {name!r}")


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    """The jupyter_server extension (sessions REST API for the JupyterLab side)."""
    return [{"module": "hermes_nb.serverext"}]
