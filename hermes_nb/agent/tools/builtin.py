"""The built-in tools: python, read_file, list_files, write_file, shell.

Names and argument names are part of the product (prompts and recorded sessions
refer to them), so they never change. Paths are relative to the kernel's working
directory, which in a notebook is the notebook's folder.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from hermes_nb.agent.tools.capture import BoundedBytes, current_tap, drain
from hermes_nb.agent.tools.pyexec import run_python
from hermes_nb.agent.tools.registry import ToolOutput, ToolRegistry, current_cancel

__all__ = ["MAX_READ_BYTES", "MAX_LIST_ENTRIES", "builtin_tools", "is_inside"]

MAX_READ_BYTES = 200_000
MAX_LIST_ENTRIES = 500
_POLL = 0.05  # seconds between cancel checks while a shell command runs


def builtin_tools(
    namespace: dict[str, Any] | None = None,
    shell_timeout: float = 60.0,
    root: str | os.PathLike[str] | None = None,
) -> ToolRegistry:
    """A fresh registry of the built-ins; ``python`` runs in ``namespace`` (the user's).

    The file tools run without asking for paths inside ``root`` (the notebook's
    folder; default: the working directory when called) and ask for any other.
    """
    ns: dict[str, Any] = namespace if namespace is not None else {"__name__": "__main__"}

    def in_folder(arguments: dict[str, Any]) -> bool:
        return is_inside(arguments.get("path", "."), root if root is not None else os.getcwd())

    def writable_in_folder(arguments: dict[str, Any]) -> bool:
        """Inside the folder, but not hermes_nb's own store (session files)."""
        store = os.path.join(root if root is not None else os.getcwd(), ".hermes_nb")
        return in_folder(arguments) and not is_inside(arguments.get("path"), store)

    def python(code: str) -> ToolOutput:
        """Run Python code in the user's notebook kernel. Variables persist between
        calls and are shared with the user's notebook. Returns stdout, stderr and the
        value of a final expression (like a notebook cell); figures and other rich
        displays are shown to the user, and figures also to you if you accept images.

        Args:
            code: Python source to execute.
        """
        return run_python(code, ns)

    def shell(command: str) -> ToolOutput:
        """Run a shell command in the notebook's folder and return its exit code and output.

        Args:
            command: The command line, run by the system shell.
        """
        return run_shell(command, shell_timeout)

    registry = ToolRegistry()
    registry.register(python, needs_kernel=True, policy="allow")
    registry.register(read_file, policy="folder", scope=in_folder)
    registry.register(list_files, policy="folder", scope=in_folder)
    registry.register(write_file, policy="folder", scope=writable_in_folder)
    registry.register(shell, policy="ask")
    return registry


def is_inside(path: Any, root: str | os.PathLike[str]) -> bool:
    """Whether ``path`` (relative to the working directory, as the tools read it) is
    ``root`` or lies under it, once ``~``, ``..`` and every symlink are resolved."""
    if not isinstance(path, str):
        return False
    try:
        target = os.path.realpath(os.path.expanduser(path))
        base = os.path.realpath(root)
    except (OSError, ValueError):  # a NUL byte, a loop: not something to allow unasked
        return False
    return target == base or target.startswith(base.rstrip(os.sep) + os.sep)


def read_file(path: str) -> ToolOutput:
    """Read a text file and return its content (large files are cut, with a note).

    Args:
        path: File path, relative to the notebook's folder or absolute.
    """
    target = Path(path).expanduser()
    if not target.exists():
        return ToolOutput(f"No such file: {path}", is_error=True)
    if target.is_dir():
        return ToolOutput(f"{path} is a folder; use list_files to see what it holds", is_error=True)
    size = target.stat().st_size
    with target.open("rb") as fh:
        raw = fh.read(MAX_READ_BYTES)
    if b"\x00" in raw[:8192]:
        return ToolOutput(f"{path} looks like a binary file ({_human(size)}); not shown", is_error=True)
    text = raw.decode("utf-8", errors="replace")
    if size > MAX_READ_BYTES:
        text = text.rstrip("\ufffd")  # a multi-byte character cut at the limit
        text += f"\n[file is {_human(size)}; only the first {_human(MAX_READ_BYTES)} shown]"
    return ToolOutput(text)


def list_files(path: str = ".") -> ToolOutput:
    """List a folder: names (folders end with /) and file sizes.

    Args:
        path: Folder to list, relative to the notebook's folder or absolute.
    """
    folder = Path(path).expanduser()
    if not folder.is_dir():
        what = "not a folder" if folder.exists() else "no such folder"
        return ToolOutput(f"{path}: {what}", is_error=True)
    entries = sorted(folder.iterdir(), key=lambda p: (not p.is_dir(), p.name.lower()))
    lines = []
    for entry in entries[:MAX_LIST_ENTRIES]:
        if entry.is_dir():
            lines.append(entry.name + "/")
        else:
            try:
                lines.append(f"{entry.name}  ({_human(entry.stat().st_size)})")
            except OSError:  # a dangling symlink
                lines.append(f"{entry.name}  (unreadable)")
    if len(entries) > MAX_LIST_ENTRIES:
        lines.append(f"[{len(entries) - MAX_LIST_ENTRIES} more entries not shown]")
    return ToolOutput("\n".join(lines) if lines else f"{path} is empty")


def write_file(path: str, content: str) -> ToolOutput:
    """Write text to a file, creating folders as needed and replacing any old content.

    Args:
        path: File path, relative to the notebook's folder or absolute.
        content: The complete new content of the file.
    """
    target = Path(path).expanduser()
    target.parent.mkdir(parents=True, exist_ok=True)
    data = content.encode("utf-8")
    mode = _mode_for(target)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return ToolOutput(f"Wrote {len(content)} characters ({_human(len(data))}) to {path}")


def _mode_for(target: Path) -> int:
    """Keep an existing file's permissions; a new file gets the usual umask-based ones."""
    try:
        return target.stat().st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def run_shell(command: str, timeout: float) -> ToolOutput:
    """Run ``command`` in its own process group so a timeout or cancel kills all of it.

    Its output is read as it comes, keeping only the start and the end of each stream
    (``capture.BoundedBytes``): ``yes`` must not fill the kernel's memory.
    """
    cancel = current_cancel()
    tap = current_tap()  # the live view, when there is one: the readers are other threads
    proc = subprocess.Popen(
        command,
        shell=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    out, err = BoundedBytes(), BoundedBytes()
    readers = [drain(proc.stdout, out, tap, "stdout"), drain(proc.stderr, err, tap, "stderr")]
    deadline = time.monotonic() + timeout
    while True:
        try:
            proc.wait(timeout=_POLL)
            break
        except subprocess.TimeoutExpired:
            if cancel.is_set():
                _kill(proc, readers)
                return ToolOutput(
                    "Cancelled by the user; the command was stopped.\n" + _streams(out, err).rstrip("\n"),
                    is_error=True,
                )
            if time.monotonic() >= deadline:
                _kill(proc, readers)
                return ToolOutput(
                    f"Timed out after {timeout:g} s; the command was stopped.\n"
                    + _streams(out, err).rstrip("\n"),
                    is_error=True,
                )
    _join(readers, 2.0)
    text = f"exit code: {proc.returncode}\n" + _streams(out, err)
    return ToolOutput(text.rstrip("\n"), is_error=proc.returncode != 0)


def _kill(proc: subprocess.Popen[bytes], readers: list[threading.Thread]) -> None:
    """Kill the command's whole process group and let the readers catch up."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, AttributeError):
        proc.kill()
    try:
        proc.wait(timeout=2)
    except subprocess.TimeoutExpired:
        pass
    _join(readers, 1.0)


def _join(readers: list[threading.Thread], timeout: float) -> None:
    """Wait for the pipes to close; a daemonized grandchild may keep them open, so
    not for ever (its reader thread ends when it does)."""
    deadline = time.monotonic() + timeout
    for reader in readers:
        reader.join(max(0.0, deadline - time.monotonic()))


def _streams(out: BoundedBytes, err: BoundedBytes) -> str:
    parts = []
    for label, buffer in (("stdout", out), ("stderr", err)):
        text = buffer.text()
        if text:
            parts.append(f"[{label}]\n{text.rstrip()}")
    return "\n".join(parts) + ("\n" if parts else "")


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # unreachable; keeps type checkers content
