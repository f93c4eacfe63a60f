"""The one allowlist for rich outputs built from what a tool, a model or a file gave us.

A tool result (an MCP server's image block, the ``python`` tool's displays), a saved
session or a restored turn is untrusted: a bundle holding ``text/html`` or
``application/javascript`` would run script in the page that holds the user's token.
So every bundle we show passes through ``safe_bundle``, which keeps only

* raster images of the types in ``IMAGE_TYPES`` whose bytes really are that type
  (magic numbers checked; the type is taken from the bytes, not from the label), and
* ``text/plain``, which every frontend shows as escaped text.

Anything else becomes ``text/plain``: a bundle's own plain text when it has one,
otherwise the other content as text (an HTML source is shown, not rendered). SVG is
not kept (it can carry script and load remote resources). Metadata is dropped (an
``isolated`` or ``needs_background`` flag is not ours to honour).
HTML that hermes_nb builds itself (transcripts, cards) escapes every piece of text and
never passes through here.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

__all__ = ["IMAGE_TYPES", "MAX_TEXT", "image_bundle", "printable", "safe_bundle", "safe_bundles", "sniff_image"]

IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
MAX_TEXT = 20_000  # characters of a non-image shown as text
MAX_IMAGE_B64 = 16_000_000  # base64 characters of one image (~12 MB)


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_DEFAULT_REPR = re.compile(r"^<[\w.]+ object( at 0x[0-9a-fA-F]+)?>$")


def printable(value: Any) -> Any:
    """``value`` (text, or lists, tuples and dicts of it) with every lone surrogate
    replaced by U+FFFD: a message to the frontend must encode as UTF-8, and one
    half-character in a session (a model's, a file name's) made every display fail."""
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value) if _LONE_SURROGATE.search(value) else value
    if isinstance(value, tuple):
        return tuple(printable(v) for v in value)
    if isinstance(value, list):
        return [printable(v) for v in value]
    if isinstance(value, dict):
        return {printable(k): printable(v) for k, v in value.items()}
    return value


def sniff_image(raw: bytes) -> str | None:
    """The image type the bytes' magic number says, if it is one we show."""
    if raw.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if raw.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if raw.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if raw[:4] == b"RIFF" and raw[8:12] == b"WEBP":
        return "image/webp"
    return None


def _decode(value: Any) -> bytes | None:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if not isinstance(value, str) or len(value) > MAX_IMAGE_B64:
        return None
    try:
        return base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError):
        return None


def image_bundle(mime: Any, value: Any) -> dict[str, Any] | None:
    """``{"data": {type: base64}, "metadata": {}}`` when ``value`` (base64 text or bytes)
    is an image we show, whatever ``mime`` claims; None otherwise."""
    raw = _decode(value)
    kind = sniff_image(raw) if raw is not None else None
    if raw is None or kind is None:
        return None
    label = str(mime).split(";")[0].strip().lower()
    note = f"[{kind} image, {len(raw):,} bytes]" if label in (kind, "image/jpg") else f"[{kind} image]"
    return {"data": {kind: base64.b64encode(raw).decode("ascii"), "text/plain": note}, "metadata": {}}


def _as_text(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        text = bytes(value).decode("utf-8", errors="replace")
    elif isinstance(value, str):
        text = value
    else:
        import json

        try:
            text = json.dumps(value, ensure_ascii=False, default=str)
        except (TypeError, ValueError, RecursionError):
            text = type(value).__name__
    text = printable(text)
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + f"… ({len(text):,} characters in all)"


def safe_bundle(bundle: Any) -> dict[str, Any]:
    """A ``{"data", "metadata"}`` bundle holding only an image we show and/or plain text."""
    data = bundle.get("data", bundle) if isinstance(bundle, dict) else {}
    data = data if isinstance(data, dict) else {}
    for mime, value in data.items():
        if str(mime).startswith("image/"):
            found = image_bundle(mime, value)
            if found is not None:
                plain = data.get("text/plain")
                if isinstance(plain, str) and plain.strip():
                    found["data"]["text/plain"] = _as_text(plain)
                return found
    plain = data.get("text/plain")
    source = data.get("text/markdown") or data.get("text/latex")
    if isinstance(source, str) and (not isinstance(plain, str) or _DEFAULT_REPR.match(plain.strip())):
        plain = source  # ``<IPython.core.display.Markdown object>`` says nothing: its source does
    if isinstance(plain, str):
        return {"data": {"text/plain": _as_text(plain)}, "metadata": {}}
    for mime, value in data.items():  # no plain text: the first other content, as text
        if str(mime).startswith("image/"):
            raw = _decode(value)
            size = f"{len(raw):,} bytes" if raw is not None else "not base64"
            return {"data": {"text/plain": f"[{_as_text(mime)}: not an image we show, {size}]"}, "metadata": {}}
        return {"data": {"text/plain": _as_text(value)}, "metadata": {}}
    return {"data": {"text/plain": ""}, "metadata": {}}


def safe_bundles(bundles: Any) -> list[dict[str, Any]]:
    """``safe_bundle`` of each bundle of a list (anything else gives an empty list)."""
    if not isinstance(bundles, (list, tuple)):
        return []
    return [safe_bundle(b) for b in bundles]
