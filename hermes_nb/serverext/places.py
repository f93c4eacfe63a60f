"""Where a notebook's sessions are, for a request naming the notebook.

Every path the server extension opens comes from here: the notebook path of a
request is relative to the server root, and whatever it resolves to (``..``,
absolute paths, symlinks) must stay inside that root. Only regular files are read,
and only up to a size bound.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from hermes_nb.store import journal, jsonstream
from hermes_nb.store.session import validate_session_id

__all__ = ["ApiError", "MAX_FILE_BYTES", "NotebookPlace", "locate", "read_bytes", "read_json", "read_session"]

#: A session file larger than this is not read by the server (a request must not be
#: able to make it read gigabytes).
MAX_FILE_BYTES = 256 * 1024 * 1024
#: A longer notebook path in a request is refused (no file system takes it whole).
MAX_PATH_CHARS = 1024


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


@contextmanager
def _opened(path: Path, place: NotebookPlace) -> Iterator[int | None]:
    """A descriptor on a regular file inside the root; None when missing, not
    readable, not a regular file (a FIFO, device or folder) or over ``MAX_FILE_BYTES``.

    403 for a file that resolves outside the root.
    """
    real = path.resolve()
    if not _inside(real, place.root):
        raise ApiError(403, "That session file points outside the server root.")
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(real, flags)
    except OSError:
        yield None
        return
    try:
        st = os.fstat(fd)
        yield fd if stat.S_ISREG(st.st_mode) and st.st_size <= MAX_FILE_BYTES else None
    finally:
        os.close(fd)


def read_bytes(path: Path, place: NotebookPlace) -> bytes | None:
    """A regular file's bytes; None when missing or not readable (see ``_opened``)."""
    with _opened(path, place) as fd:
        if fd is None:
            return None
        with os.fdopen(fd, "rb", closefd=False) as fh:
            return fh.read(MAX_FILE_BYTES + 1)


def read_json(path: Path, place: NotebookPlace) -> dict[str, Any] | None:
    """A session file's JSON object; None when missing or not a readable session
    (the same refusals as ``read_bytes``).

    Parsed a window at a time (``jsonstream``): the peak is the objects plus a window,
    not three times the file, and a request parsing a large file lets the server's
    event loop run between windows.
    """
    with _opened(path, place) as fd:
        if fd is None:
            return None
        try:
            data = jsonstream.load_object(fd, MAX_FILE_BYTES)
        except (ValueError, UnicodeDecodeError, RecursionError, OverflowError, OSError):
            return None
    return data if isinstance(data, dict) else None


def read_session(path: Path, place: NotebookPlace) -> dict[str, Any] | None:
    """A session file's JSON with what runs appended to its journal folded in
    (``journal.py``): the whole session as the kernel sees it."""
    data = read_json(path, place)
    if data is not None:
        raw = read_bytes(journal.beside(path), place)
        if raw is not None:
            journal.fold(data, journal.parse(raw))
        data.pop(journal.TOKEN_KEY, None)  # an export is whole: no journal may extend it
    return data
