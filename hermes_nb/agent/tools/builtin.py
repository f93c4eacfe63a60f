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
import time
from pathlib import Path
from typing import Any

from hermes_nb.agent.tools.pyexec import run_python
from hermes_nb.agent.tools.registry import ToolOutput, ToolRegistry, current_cancel

__all__ = ["MAX_READ_BYTES", "MAX_LIST_ENTRIES", "builtin_tools"]

MAX_READ_BYTES = 200_000
MAX_LIST_ENTRIES = 500
_POLL = 0.05  # seconds between cancel checks while a shell command runs


def builtin_tools(namespace: dict[str, Any] | None = None, shell_timeout: float = 60.0) -> ToolRegistry:
    """A fresh registry of the built-ins; ``python`` runs in ``namespace`` (the user's)."""
    ns: dict[str, Any] = namespace if namespace is not None else {"__name__": "__main__"}

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
    registry.register(read_file, policy="allow")
    registry.register(list_files, policy="allow")
    registry.register(write_file, policy="ask")
    registry.register(shell, policy="ask")
    return registry


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
    """Run ``command`` in its own process group so a timeout or cancel kills all of it."""
    cancel = current_cancel()
    proc = subprocess.Popen(
        command,
        shell=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    out: bytes | None
    err: bytes | None
    while True:
        try:
            out, err = proc.communicate(timeout=_POLL)
            break
        except subprocess.TimeoutExpired:
            if cancel.is_set():
                _kill(proc)
                return ToolOutput("Cancelled by the user; the command was stopped.", is_error=True)
            if time.monotonic() >= deadline:
                out, err = _kill(proc)
                return ToolOutput(
                    f"Timed out after {timeout:g} s; the command was stopped.\n"
                    + _streams(out, err).rstrip("\n"),
                    is_error=True,
                )
    text = f"exit code: {proc.returncode}\n" + _streams(out, err)
    return ToolOutput(text.rstrip("\n"), is_error=proc.returncode != 0)


def _kill(proc: subprocess.Popen[bytes]) -> tuple[bytes | None, bytes | None]:
    """Kill the command's whole process group; return what it wrote before."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, AttributeError):
        proc.kill()
    try:
        return proc.communicate(timeout=2)
    except subprocess.TimeoutExpired:  # a daemonized grandchild still holds the pipes
        return None, None


def _streams(out: bytes | None, err: bytes | None) -> str:
    parts = []
    for label, raw in (("stdout", out), ("stderr", err)):
        text = (raw or b"").decode("utf-8", errors="replace")
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
