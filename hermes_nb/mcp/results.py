"""An MCP tool result as a hermes_nb ``ToolOutput``.

Text goes to the model. Images (PNG, JPEG, GIF, WebP whose bytes are what they
claim: ``hermes_nb.safe_output``) become rich outputs (``{"data": {mime: base64}}``
bundles, the shape the ``python`` tool gives its figures), so they show in the tool's
card, and tool images (``ToolOutput.images``), so they reach a model that accepts
images as the ``python`` tool's figures do (a model that does not reads a one-line
note); any other "image" (``text/html``, a script) is a one-line note. A result
flagged ``isError`` becomes a tool error the model can correct.
"""

from __future__ import annotations

import json
from typing import Any

from hermes_nb.agent.images import images_from_bundles
from hermes_nb.agent.tools.registry import ToolOutput
from hermes_nb.depth import elide
from hermes_nb.safe_output import image_bundle

__all__ = ["to_tool_output"]


def to_tool_output(result: Any) -> ToolOutput:
    """Convert an ``mcp.types.CallToolResult`` (duck-typed, so tests need no SDK objects)."""
    texts: list[str] = []
    outputs: list[dict[str, Any]] = []
    for block in getattr(result, "content", None) or ():
        kind = getattr(block, "type", "")
        if kind == "text":
            texts.append(block.text)
        elif kind == "image":
            label = _label(getattr(block, "mime_type", ""))
            found = image_bundle(label, getattr(block, "data", ""))
            if found is None:  # text/html, a script, or bytes that are not the image claimed
                texts.append(f"[content labelled {label}, {_size(block.data)}: not an image, not shown]")
            else:
                outputs.append(found)
                texts.append(f"[image {next(iter(found['data']))}, {_size(block.data)}]")
        elif kind == "audio":
            texts.append(f"[audio {block.mime_type}, {_size(block.data)}, not shown]")
        elif kind == "resource_link":
            texts.append(f"[resource {block.uri}" + (f": {block.name}" if block.name else "") + "]")
        elif kind == "resource":
            texts.append(_resource_text(block.resource))
    structured = getattr(result, "structured_content", None)
    if not texts and structured is not None:
        texts.append(json.dumps(elide(structured), ensure_ascii=False, default=str))
    text = "\n".join(texts) or "(no output)"
    is_error = bool(getattr(result, "is_error", False))
    if is_error and not text.startswith("Error"):
        text = f"Error: {text}"
    return ToolOutput(
        text, is_error=is_error, outputs=tuple(outputs), images=images_from_bundles(outputs)
    )


def _resource_text(resource: Any) -> str:
    text = getattr(resource, "text", None)
    if text is not None:
        return str(text)
    mime = getattr(resource, "mime_type", None) or "binary"
    return f"[resource {resource.uri}, {mime}, {_size(getattr(resource, 'blob', ''))}]"


def _label(mime: object) -> str:
    """A server's mime label, printable and short (it is shown to the model and the user)."""
    text = "".join(ch for ch in str(mime) if ch.isprintable())[:60]
    return text or "no type"


def _size(b64: str) -> str:
    n = len(b64) * 3 // 4
    return f"{n / 1024:.1f} KB" if n >= 1024 else f"{n} bytes"
