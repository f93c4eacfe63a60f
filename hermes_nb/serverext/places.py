"""Where a notebook's sessions are, for a request naming the notebook, and the store
that reads them.

Every path the server extension opens comes from here: the notebook path of a
request is relative to the server root, and whatever it resolves to (``..``,
absolute paths, symlinks) must stay inside that root. The sessions are read through
a read-only ``SessionStore`` confined to the root (``store_of``): only regular files
inside it, never through a link, up to a size bound, parsed a window at a time.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from hermes_nb.store.session import validate_session_id
from hermes_nb.store.session_store import SessionStore

__all__ = ["ApiError", "NotebookPlace", "locate", "store_of"]

#: A longer notebook path in a request is refused (no file system takes it whole).
MAX_PATH_CHARS = 1024
#: Sessions folders whose store (and parsed index) is kept, least recently used dropped.
STORES = 64


class ApiError(Exception):
    """A request the API refuses: an HTTP status and one line saying why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


@dataclass(frozen=True)
class NotebookPlace:
    """A notebook named by a request, and its sessions folder (both inside the root)."""

    root: Path  # the server root, resolved
    notebook: str  # as the request gave it, e.g. "dir/analysis.ipynb"
    name: str  # the file name sessions record: "analysis.ipynb"
    session_dir: Path  # resolved
    session_dir_rel: str  # relative to the root, "/"-separated

    @property
    def index_file(self) -> Path:
        return self.session_dir / "_index.json"

    def session_file(self, session_id: str) -> Path:
        """The file of ``session_id``; 400 for an id that is not one, 403 for a symlink
        that leads out of the root."""
        try:
            validate_session_id(session_id)
        except ValueError as exc:
            raise ApiError(400, str(exc)) from None
        path = self.session_dir / f"{session_id}.json"
        if path.is_symlink() and not _inside(path.resolve(), self.root):
            raise ApiError(403, "That session file points outside the server root.")
        return path


    def refuse_links(self, *paths: Path) -> None:
        """403 when a file the server would write or lock is a symbolic link: it could
        lead anywhere, inside the root or out of it."""
        from hermes_nb.errors import UnsafePathError
        from hermes_nb.store.session_ops import refuse_links

        try:
            refuse_links(self.session_dir, *paths)
        except UnsafePathError as exc:
            raise ApiError(403, str(exc)) from None


def locate(root: str | os.PathLike[str], notebook: Any) -> NotebookPlace:
    """Check a request's ``notebook`` parameter and find its sessions folder.

    400: missing or malformed; 403: absolute, ``..``, or resolving (through symlinks)
    outside ``root``.
    """
    if not isinstance(notebook, str) or not notebook.strip() or "\x00" in notebook:
        raise ApiError(400, "Give the notebook's path: ?notebook=dir/name.ipynb")
    rel = PurePosixPath(notebook.replace("\\", "/"))
    if not rel.parts or rel.name in ("", ".", ".."):  # ".", "./", "./.": a folder, not a notebook
        raise ApiError(400, "Give the notebook's path, not a folder: ?notebook=dir/name.ipynb")
    if len(notebook) > MAX_PATH_CHARS or any(len(p.encode("utf-8", "surrogatepass")) > 255 for p in rel.parts):
        raise ApiError(400, "That notebook path is too long.")
    if rel.is_absolute() or notebook.startswith(("/", "\\")) or ":" in rel.parts[0]:
        raise ApiError(403, "The notebook path must be relative to the server root.")
    if ".." in rel.parts:
        raise ApiError(403, "The notebook path must stay inside the server root.")
    real_root = Path(root).resolve()
    folder = real_root.joinpath(*rel.parent.parts) if rel.parent.parts else real_root
    session_dir = (folder / ".hermes_nb" / "sessions").resolve()
    if not _inside(folder.resolve(), real_root) or not _inside(session_dir, real_root):
        raise ApiError(403, "That notebook's sessions folder is outside the server root.")
    return NotebookPlace(
        root=real_root,
        notebook=notebook,
        name=rel.name,
        session_dir=session_dir,
        session_dir_rel=session_dir.relative_to(real_root).as_posix(),
    )


_STORES: OrderedDict[tuple[Path, Path], SessionStore] = OrderedDict()
_STORES_LOCK = threading.Lock()


def store_of(place: NotebookPlace) -> SessionStore:
    """The read-only store of ``place``'s sessions folder, confined to the root.

    One per folder, the ``STORES`` most recently used kept: a store keeps the
    folder's parsed index, so a repeated listing costs a ``stat``.
    """
    key = (place.root, place.session_dir)
    with _STORES_LOCK:
        store = _STORES.get(key)
        if store is None:
            store = _STORES[key] = SessionStore(place.session_dir, root=place.root)
            while len(_STORES) > STORES:
                _STORES.popitem(last=False)
        else:
            _STORES.move_to_end(key)
        return store
