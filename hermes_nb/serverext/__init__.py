"""The jupyter_server extension: a notebook's sessions over REST for the JupyterLab side.

Enabled on install by ``jupyter-config/jupyter_server_config.d/hermes_nb.json``.
Routes live under ``<base_url>hermes-nb/`` (see ``handlers``); their logic is in
``api``, which only reads session files (and moves one to the trash on delete).
Importing this package is cheap: tornado and jupyter_server load with the handlers.

The top layer, beside the kernel side and independent of it (a server process loads
no kernel code): may import the store (a read-only ``SessionStore`` per folder), ui
(the static views of saved sessions, ``ui.page_replies`` for the page's answers to a
running cell), safety and errors. Nothing in the package imports it; jupyter_server
loads it by name.
"""

from __future__ import annotations

from typing import Any

__all__ = ["load_jupyter_server_extension"]


def load_jupyter_server_extension(server_app: Any) -> None:
    """Register the handlers on a running ``ServerApp``."""
    from hermes_nb.serverext.handlers import setup_handlers

    setup_handlers(server_app.web_app, server_app.root_dir)
    server_app.log.info("hermes_nb: sessions API at %shermes-nb/", server_app.base_url)


_load_jupyter_server_extension = load_jupyter_server_extension
