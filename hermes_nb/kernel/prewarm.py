"""Load what the first run needs while the user is still typing their request.

``%load_ext hermes_nb`` stays cheap (nothing heavy is imported on that path), but the
first ``%%agent`` cell used to pay for importing the provider SDK, the widgets and the
agent before its request could leave (~0.7 s, most of it ``import openai``). A person
takes seconds to type that first request, so a background thread imports those
modules and prepares the rest of what a first run needs before its request can
leave: the provider (its connection pool and TLS context), the model's context
window (asked of the server once), the built-in tools' schemas.

Everything here is an optimisation: any failure is logged and ignored, and the cell
does the same work itself if it comes first (Python's import locks make a module
imported by both threads load once).
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable

__all__ = ["MODULES", "start"]

log = logging.getLogger("hermes_nb.kernel.prewarm")

#: What a run imports, in the order it needs them.
MODULES = (
    "hermes_nb.agent.providers",
    "hermes_nb.agent.loop",
    "hermes_nb.agent.tools.builtin",
    "hermes_nb.kernel.notebook_tools",
    "hermes_nb.kernel.toolset",
    "hermes_nb.mcp",
    "hermes_nb.mcp.settings",
    "hermes_nb.agent.vision",
    "hermes_nb.kernel.compression",
    "hermes_nb.kernel.said_once",
    "hermes_nb.context",
    "hermes_nb.kernel.cell_loop",
    "hermes_nb.ui",
    "hermes_nb.ui.widget",
    "hermes_nb.ui.transcript",
    "markdown_it",
    "ipywidgets",
)


def start(warm_provider: Callable[[], object] | None = None) -> threading.Thread:
    """Import the run's modules on a daemon thread, then call ``warm_provider``."""
    thread = threading.Thread(
        target=_warm, args=(warm_provider,), name="hermes_nb-prewarm", daemon=True
    )
    thread.start()
    return thread


def _warm(warm_provider: Callable[[], object] | None) -> None:
    for name in MODULES:
        try:
            importlib.import_module(name)
        except Exception:  # an optional part missing (e.g. ipywidgets): the run will say so
            log.debug("prewarm: importing %s failed", name, exc_info=True)
    if warm_provider is None:
        return
    try:
        warm_provider()
    except Exception:  # no model configured, a missing key, an unknown provider...
        log.debug("prewarm: the provider could not be prepared", exc_info=True)
