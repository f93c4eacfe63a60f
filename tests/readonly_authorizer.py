"""An ``Authorizer`` that lets every user read and nobody write: what a read-only
share (JupyterHub sharing, a collaboration role) looks like to the server."""

from __future__ import annotations

from typing import Any

from jupyter_server.auth.authorizer import Authorizer


class ReadOnlyAuthorizer(Authorizer):
    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool:
        return action == "read"
