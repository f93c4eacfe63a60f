"""The files through which the JupyterLab page answers a running ``%%agent`` cell.

The cell blocks its kernel's shell channel, so the page's answer travels through the
Jupyter server: the server extension writes ``<runtime dir>/hermes_nb/replies/<id>.json``
and the kernel (``hermes_nb.kernel.frontend_link``), started from that server's
environment, finds the file. A page showing notebooks on a kernel leaves
``frontends/<kernel id>``, the marker the kernel looks for before asking.

The first file written under an id wins (``os.link`` of a complete temp file), so
several tabs answering one request, or a page answering after the kernel gave up, can
never overwrite an answer. Nothing the page sends names a path: ids are checked
against a strict pattern. Here, below both sides, so the server extension does not
import the kernel's code.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

from hermes_nb.safety import fsio

__all__ = [
    "KERNEL_ID",
    "MAX_REPLY_BYTES",
    "REPLY_ID",
    "REPLY_MAX_AGE",
    "frontends_dir",
    "link_folder",
    "mark_frontend",
    "read_reply",
    "replies_dir",
    "sweep_replies",
    "write_reply",
]

REPLY_ID = re.compile(r"^[0-9a-f]{32}$")
KERNEL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
#: a live notebook's text (outputs are cut by the page) stays far below this
MAX_REPLY_BYTES = 8 * 1024 * 1024
#: answers nobody read (a tab that answered after the kernel gave up) are removed after this
REPLY_MAX_AGE = 3600.0


def link_folder() -> Path:
    """``<jupyter runtime dir>/hermes_nb``: the server and its kernels resolve the same one."""
    from jupyter_core.paths import jupyter_runtime_dir

    return Path(jupyter_runtime_dir()) / "hermes_nb"


def replies_dir(base: Path | None = None) -> Path:
    return (base or link_folder()) / "replies"


def frontends_dir(base: Path | None = None) -> Path:
    return (base or link_folder()) / "frontends"


def write_reply(reply_id: str, payload: dict[str, Any], base: Path | None = None) -> bool:
    """Write the answer to ``reply_id`` unless one exists; True when this one won."""
    if not REPLY_ID.match(reply_id):
        raise ValueError(f"invalid reply id {reply_id!r}")
    folder = replies_dir(base)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    target = folder / f"{reply_id}.json"
    tmp, _ = fsio.write_temp(target, fsio.json_bytes(payload), sync_file=False)
    try:
        os.link(tmp, target)  # fails if the id is answered
    except FileExistsError:
        return False
    finally:
        os.unlink(tmp)
    return True


def read_reply(reply_id: str, base: Path | None = None, *, remove: bool = True) -> dict[str, Any] | None:
    """The answer to ``reply_id``, or None while there is none; removed once read."""
    path = replies_dir(base) / f"{reply_id}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        data = {"status": "unreadable", "error": str(exc)}
    if remove:
        try:
            path.unlink()
        except OSError:
            pass
    return data if isinstance(data, dict) else {"status": "unreadable"}


def sweep_replies(base: Path | None = None, max_age: float = REPLY_MAX_AGE) -> int:
    """Remove answers older than ``max_age`` (nobody will read them); how many."""
    removed = 0
    cutoff = time.time() - max_age
    try:
        entries = list(os.scandir(replies_dir(base)))
    except OSError:
        return 0
    for entry in entries:
        try:
            if entry.is_file() and entry.stat().st_mtime < cutoff:
                os.unlink(entry.path)
                removed += 1
        except OSError:
            pass
    return removed


def mark_frontend(kernel_id: str, base: Path | None = None) -> Path:
    """The page shows a notebook on ``kernel_id``: leave the marker the kernel looks for."""
    if not KERNEL_ID.match(kernel_id):
        raise ValueError(f"invalid kernel id {kernel_id!r}")
    folder = frontends_dir(base)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    marker = folder / kernel_id
    marker.write_text(str(time.time()), encoding="utf-8")
    return marker
