"""Small helpers the HTTP providers share: tool-call assembly and error details."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from ...redact import redact
from .base import ToolCallRequest

__all__ = ["PendingCall", "error_field", "is_transport_error", "scrub", "server_message"]


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
