"""An MCP tool result as a hermes_nb ``ToolOutput``.

Text goes to the model. Images (PNG, JPEG, GIF, WebP whose bytes are what they
claim: ``hermes_nb.safety.safe_output``) become rich outputs (``{"data": {mime: base64}}``
bundles, the shape the ``python`` tool gives its figures), so they show in the tool's
card, and tool images (``ToolOutput.images``), so they reach a model that accepts
images as the ``python`` tool's figures do (a model that does not reads a one-line
note); any other "image" (``text/html``, a script) is a one-line note. A result
flagged ``isError`` becomes a tool error the model can correct.

A block annotated ``audience: ["user"]`` is for the person, not the model: it is shown
in the card and left out of what the model reads. An embedded text resource reaches
the model as its text; a resource link as its URI, which the server's
``read_resource`` tool (see ``tools``) can read.
"""

from __future__ import annotations

import json
from typing import Any

from hermes_nb.agent.images import images_from_bundles
from hermes_nb.agent.tools.registry import ToolOutput
from hermes_nb.safety.depth import elide
from hermes_nb.safety.safe_output import image_bundle

__all__ = ["resource_output", "to_tool_output"]


def to_tool_output(result: Any) -> ToolOutput:
    """Convert an ``mcp.types.CallToolResult`` (duck-typed, so tests need no SDK objects)."""
    texts: list[str] = []
    outputs: list[dict[str, Any]] = []
    seen: list[dict[str, Any]] = []  # the image bundles the model may see
    for_user_only = 0
    for block in getattr(result, "content", None) or ():
        kind = getattr(block, "type", "")
        if not _for_model(block):
            for_user_only += 1
            if kind == "text":
                outputs.append({"data": {"text/plain": block.text}, "metadata": {}})
            elif kind == "image":
                shown, line = _image(block)
                outputs.append(shown or {"data": {"text/plain": line}, "metadata": {}})
            continue
        if kind == "text":
            texts.append(block.text)
        elif kind == "image":
            shown, line = _image(block)
            texts.append(line)
            if shown is not None:
                outputs.append(shown)
                seen.append(shown)
        elif kind == "audio":
            texts.append(f"[audio {block.mime_type}, {_size(block.data)}, not shown]")
        elif kind == "resource_link":
            texts.append(f"[resource {block.uri}" + (f": {block.name}" if block.name else "") + "]")
        elif kind == "resource":
            texts.append(_resource_text(block.resource))
    structured = getattr(result, "structured_content", None)
    if not texts and structured is not None:
        texts.append(json.dumps(elide(structured), ensure_ascii=False, default=str))
    if not texts and for_user_only:
        texts.append("(the result was shown to the user only)")
    text = "\n".join(texts) or "(no output)"
    is_error = bool(getattr(result, "is_error", False))
    if is_error and not text.startswith("Error"):
        text = f"Error: {text}"
    return ToolOutput(
        text, is_error=is_error, outputs=tuple(outputs), images=images_from_bundles(seen)
    )


def _image(block: Any) -> tuple[dict[str, Any] | None, str]:
    """An image block's bundle, None for anything that is not the image it claims
    (``text/html``, a script, other bytes), and the line the model reads for it."""
    label = _label(getattr(block, "mime_type", ""))
    found = image_bundle(label, getattr(block, "data", ""))
    size = _size(getattr(block, "data", ""))
    if found is None:
        return None, f"[content labelled {label}, {size}: not an image, not shown]"
    return found, f"[image {next(iter(found['data']))}, {size}]"


def _for_model(block: Any) -> bool:
    """False for a block whose ``audience`` names the user and not the assistant."""
    audience = getattr(getattr(block, "annotations", None), "audience", None)
    return not audience or "assistant" in audience


def resource_output(result: Any) -> ToolOutput:
    """An ``mcp.types.ReadResourceResult`` as the model reads it: text as text, other
    contents as one line each (images also as images, like a tool's)."""
    texts: list[str] = []
    outputs: list[dict[str, Any]] = []
    for item in getattr(result, "contents", None) or ():
        mime = getattr(item, "mime_type", None) or ""
        blob = getattr(item, "blob", None)
        if blob is not None and mime.startswith("image/"):
            outputs.append({"data": {mime: blob}, "metadata": {}})
        texts.append(_resource_text(item))
    return ToolOutput(
        "\n".join(texts) or "(empty resource)", outputs=tuple(outputs), images=images_from_bundles(outputs)
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
