"""Small helpers the HTTP providers share: tool-call assembly and error details."""

from __future__ import annotations

import socket
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from hermes_nb.agent.providers.base import ToolCallRequest
from hermes_nb.safety.redact import redact

__all__ = [
    "KEY_HINT",
    "PendingCall",
    "connection_failure",
    "error_field",
    "is_transport_error",
    "public_url",
    "scrub",
    "server_message",
]

#: how to give a provider its key; ``{env}`` is the variable's name
KEY_HINT = (
    "set the environment variable {env} where Jupyter starts (e.g. `export {env}=...` "
    "in the shell, then start Jupyter from it), or load it into os.environ from a file "
    "kept outside the notebook, so the key is never saved in the .ipynb."
)


@dataclass
class PendingCall:
    """A tool call whose argument deltas are still arriving."""

    call_id: str = ""
    name: str = ""
    parts: list[str] = field(default_factory=list)

    def request(self) -> ToolCallRequest:
        call_id = self.call_id or f"call_{uuid.uuid4().hex[:16]}"
        return ToolCallRequest(call_id=call_id, name=self.name, arguments="".join(self.parts) or "{}")


def is_transport_error(err: BaseException) -> bool:
    """httpx/httpcore errors an SDK lets through unwrapped (a connection cut mid-body)."""
    return type(err).__module__.split(".")[0] in {"httpx", "httpx2", "httpcore", "httpcore2"}


def error_field(err: Any, name: str) -> str | None:
    """A string field of the error object in an SDK error's JSON body (``code``, ``type``)."""
    body = getattr(err, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get(name), str):
            return str(inner[name])
    return None


def server_message(err: Any, key: str) -> str:
    """The server's own message, short and without the key."""
    message = error_field(err, "message")
    return scrub(str(message or getattr(err, "message", "") or err), key)


def scrub(text: str, key: str) -> str:
    """Remove the key from a message and keep it to one readable line."""
    if key and len(key) > 3:
        text = text.replace(key, "***")
    text = " ".join(redact(text).split())
    return text if len(text) <= 300 else text[:297] + "..."


def public_url(url: str) -> str:
    """``url`` without a user name or password, fit for a message."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(an unparsable URL)"
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port is not None else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _causes(err: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = err
    while current is not None and current not in chain and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def connection_failure(err: BaseException) -> tuple[str, str]:
    """(retry reason, what happened) for a transport error.

    A server that refuses the connection or cannot be reached never got the
    request; one that dropped it mid-reply did. Users fix the two differently.
    """
    chain = _causes(err)
    names = {type(e).__name__ for e in chain}
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return "the connection was refused", "refused the connection"
    if any(isinstance(e, socket.gaierror) for e in chain):
        return "the host name did not resolve", "is unreachable: its host name does not resolve"
    if "ConnectTimeout" in names:
        return "the connection timed out", "is unreachable: connecting timed out"
    if "ConnectError" in names:
        return "the server could not be reached", "is unreachable"
    return "the connection dropped", "dropped the connection"
