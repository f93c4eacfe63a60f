"""Images in tool results: what a tool returns, where it is kept, how it is sent.

A tool (the ``python`` tool's figures, an MCP tool's image content) returns
``ToolImage`` values in ``ToolOutput.images``. The loop saves each one through an
``ImageStore`` into ``<sessions folder>/<session id>.files/<sha>.<ext>`` and the tool
message records only a small reference (``{"path", "mime", "width", "height",
"bytes"}``), never base64 in the session JSON. When the history becomes a request,
``image_parts`` turns references back into OpenAI ``image_url`` data URLs for models
that accept images; other models get a one-line note.

Sizes are bounded before saving: images larger than ``MAX_SIDE`` pixels on a side or
``MAX_IMAGE_BYTES`` are downscaled with Pillow when it is installed (it comes with
matplotlib); without Pillow such images are not sent, and the note says so.
"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import os
import re
import struct
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hermes_nb.errors import UnreadableFileError
from hermes_nb.safety.fsio import atomic_write_bytes, read_regular
from hermes_nb.safety.safe_output import image_bundle, sniff_image

__all__ = [
    "MAX_IMAGES_PER_CALL",
    "MAX_IMAGES_PER_REQUEST",
    "MAX_IMAGE_BYTES",
    "MAX_SIDE",
    "ImageStore",
    "ToolImage",
    "describe_refs",
    "image_size",
    "images_from_bundles",
    "prepare",
]

log = logging.getLogger("hermes_nb.agent.images")

MAX_SIDE = 1568  # pixels; larger images are scaled down (the providers do so anyway)
MAX_IMAGE_BYTES = 1_000_000
MAX_STORED_BYTES = 4 * MAX_IMAGE_BYTES  # a stored image read back at all (ours are within MAX_IMAGE_BYTES)
MAX_IMAGES_PER_CALL = 4
MAX_IMAGES_PER_REQUEST = 4  # the newest; older ones are not sent again
SENDABLE = {"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "image/webp": "webp"}
_REF = re.compile(r"^[A-Za-z0-9_-]{1,64}\.files/[0-9a-f]{16,64}\.(png|jpg|gif|webp)$")


@dataclass(frozen=True)
class ToolImage:
    """An image a tool produced for the model to see."""

    data: bytes
    mime: str = "image/png"


def images_from_bundles(bundles: Any) -> tuple[ToolImage, ...]:
    """The images in display mimebundles (base64 text or bytes) whose bytes are an image
    type we send (the label is not trusted: ``safe_output.sniff_image``)."""
    found: list[ToolImage] = []
    for bundle in bundles or ():
        data = bundle.get("data", {}) if isinstance(bundle, dict) else {}
        for mime, value in data.items() if isinstance(data, dict) else ():
            image = image_bundle(mime, value) if str(mime).startswith("image/") else None
            if image is None:
                continue
            kind = next(iter(image["data"]))
            found.append(ToolImage(base64.b64decode(image["data"][kind]), kind))
            break
    return tuple(found)


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG header, or through Pillow for other formats."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    try:
        from PIL import Image
    except ImportError:
        return None
    try:
        with Image.open(io.BytesIO(data)) as im:
            return int(im.width), int(im.height)
    except Exception:
        return None


def prepare(image: ToolImage) -> ToolImage | None:
    """The image within the size bounds (downscaled if needed), or None if it cannot be."""
    if image.mime not in SENDABLE or sniff_image(image.data) != image.mime:
        return None
    size = image_size(image.data)
    small = size is not None and max(size) <= MAX_SIDE and len(image.data) <= MAX_IMAGE_BYTES
    if small:
        return image
    return _downscale(image)


def _downscale(image: ToolImage) -> ToolImage | None:
    try:
        from PIL import Image
    except ImportError:
        log.debug("an image too large to send and no Pillow to shrink it")
        return None
    try:
        with Image.open(io.BytesIO(image.data)) as im:
            im.load()
            im.thumbnail((MAX_SIDE, MAX_SIDE))
            buf = io.BytesIO()
            im.save(buf, format="PNG", optimize=True)
            if buf.tell() <= MAX_IMAGE_BYTES:
                return ToolImage(buf.getvalue(), "image/png")
            buf = io.BytesIO()
            im.convert("RGB").save(buf, format="JPEG", quality=80)
            if buf.tell() <= MAX_IMAGE_BYTES:
                return ToolImage(buf.getvalue(), "image/jpeg")
    except Exception:
        log.debug("could not downscale an image", exc_info=True)
    return None


class ImageStore:
    """Tool images kept beside the session files (or in memory when ``root`` is None).

    References hold a path relative to the sessions folder, so a forked or compressed
    session still finds the images of the session they came from.
    """

    def __init__(self, root: Path | None, session_id: str = "memory") -> None:
        self.root = root
        self.session_id = session_id
        self._memory: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def save(self, image: ToolImage) -> dict[str, Any]:
        """Bound, write and reference one image; a reference without ``path`` was not kept."""
        ready = prepare(image)
        if ready is None:
            size = image_size(image.data)
            return {"mime": image.mime, "bytes": len(image.data), "unsent": "too large", **_dims(size)}
        digest = hashlib.sha256(ready.data).hexdigest()[:32]
        rel = f"{self.session_id}.files/{digest}.{SENDABLE[ready.mime]}"
        if self.root is None:
            with self._lock:
                self._memory[rel] = ready.data
        else:
            target = self.root / rel
            target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            if self._path(rel) is None:  # a folder or file that links out: not written through
                log.warning("image folder %s is not inside %s; the image was not kept", target.parent, self.root)
                return {"mime": ready.mime, "bytes": len(ready.data), "unsent": "not kept", **_dims(image_size(ready.data))}
            if not os.path.lexists(target):
                atomic_write_bytes(target, ready.data)
        return {"path": rel, "mime": ready.mime, "bytes": len(ready.data), **_dims(image_size(ready.data))}

    def load(self, ref: dict[str, Any]) -> bytes | None:
        """The image a reference names, or None (missing, or a path that is not ours)."""
        rel = ref.get("path") if isinstance(ref, dict) else None
        if not isinstance(rel, str) or not _REF.match(rel):
            return None
        if self.root is None:
            with self._lock:
                return self._memory.get(rel)
        path = self._path(rel)
        if path is None:
            log.warning("image %s is not inside the sessions folder; not read", rel)
            return None
        try:
            data = read_regular(path, MAX_STORED_BYTES, follow_links=False)
        except FileNotFoundError:
            return None
        except (UnreadableFileError, OSError) as exc:
            log.warning("image %s not read: %s", rel, exc)
            return None
        return data if sniff_image(data) is not None else None

    def _path(self, rel: str) -> Path | None:
        """``root / rel`` when its folder is really inside ``root`` (no link leads out).

        A session file is data anyone may have written (a cloned folder): its image
        references are read like session files, never through a link, a FIFO or a
        device (``load`` opens with ``O_NOFOLLOW | O_NONBLOCK`` and reads a bounded
        regular file).
        """
        assert self.root is not None
        try:
            base = os.path.realpath(self.root)
            folder = os.path.realpath(self.root / rel.split("/", 1)[0])
        except (OSError, ValueError):
            return None
        if os.path.dirname(folder) != base:
            return None
        return Path(folder) / rel.split("/", 1)[1]

    def data_url(self, ref: dict[str, Any]) -> str | None:
        data = self.load(ref)
        if data is None:
            return None
        mime = sniff_image(data) or "image/png"
        return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def describe_refs(refs: list[dict[str, Any]]) -> str:
    """``1 image (PNG 640×480)``: what the user saw, for a note to the model."""
    kinds = []
    for ref in refs:
        kind = str(ref.get("mime", "image")).split("/")[-1].upper()
        if ref.get("width") and ref.get("height"):
            kind += f" {ref['width']}×{ref['height']}"
        kinds.append(kind)
    count = len(refs)
    return f"{count} image{'s' if count != 1 else ''} ({', '.join(kinds)})"


def _dims(size: tuple[int, int] | None) -> dict[str, int]:
    return {"width": size[0], "height": size[1]} if size else {}
