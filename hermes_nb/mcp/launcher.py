"""Start a stdio MCP server so that it dies with the kernel.

Run as ``python -I -S launcher.py KERNEL_PID COMMAND [ARGS...]`` (stdlib only, so
it starts fast and does not import hermes_nb). It leads a process group of its own
(the SDK starts it in a new session; it makes sure), starts the server in that group
with the same stdin/stdout/stderr and waits. When the kernel dies, even by SIGKILL,
the launcher kills the whole group: on Linux the kernel's death signals it at once
(``PR_SET_PDEATHSIG``), elsewhere it notices within half a second that its parent
changed. A server blocked in a call does not exit when its stdin closes, so closing
the pipe alone is not enough.

When the server exits (stopped, or failed at start), whatever it started is ended
too: a child left running would outlive the kernel, and one holding the server's
stdout open would keep the client waiting for an answer that never comes. On Linux
the launcher is their subreaper, so it knows when they are all gone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
_POLL = 0.5
_GRACE = 1.0  # seconds the server's children get to end after SIGTERM


_SERVER: list[subprocess.Popen[bytes]] = []


def _kill_group(*_: object) -> None:
    try:
        if os.getpgid(0) == os.getpid():  # our own group (the SDK's new session), never the kernel's
            os.killpg(os.getpid(), signal.SIGKILL)  # the server, its children and us
        for server in _SERVER:
            server.kill()
    finally:
        os._exit(137)


def _lead_group() -> bool:
    """Make this process its group's leader (so killing the group never reaches the kernel)."""
    try:
        if os.getpgid(0) != os.getpid():
            os.setpgid(0, 0)
    except OSError:  # a session leader cannot move; it leads its group already
        pass
    return os.getpgid(0) == os.getpid()


def _end_group(code: int) -> int:
    """End what the server left in our group (SIGTERM, then SIGKILL); ``code`` to exit with."""
    if not _lead_group():
        return code
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        os.killpg(os.getpid(), signal.SIGTERM)
    except OSError:
        return code
    if not sys.platform.startswith("linux"):
        return code  # not our children: they got SIGTERM, which is all we can tell
    deadline = time.monotonic() + _GRACE
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:  # every descendant is gone (we are their subreaper)
            return code
        if pid == 0:
            time.sleep(0.01)
    os.killpg(os.getpid(), signal.SIGKILL)  # one ignored SIGTERM: end them, and us with them
    return code


def _die_with_parent(parent: int) -> None:
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            signal.signal(signal.SIGUSR2, _kill_group)
            libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGUSR2), 0, 0, 0)
            libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        except (OSError, AttributeError):  # no prctl: the watchdog below still works
            pass
    if os.getppid() != parent:  # the kernel died before we could watch it
        _kill_group()

    def watch() -> None:
        while True:
            time.sleep(_POLL)
            if os.getppid() != parent:
                _kill_group()

    threading.Thread(target=watch, daemon=True).start()


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: launcher.py KERNEL_PID COMMAND [ARGS...]", file=sys.stderr)
        return 2
    _lead_group()
    _die_with_parent(int(argv[0]))
    try:
        server = subprocess.Popen(argv[1:])
    except OSError as exc:
        print(f"cannot start {argv[1]!r}: {exc.strerror or exc}", file=sys.stderr)
        return 127
    _SERVER.append(server)
    signal.signal(signal.SIGTERM, lambda *_: server.terminate())
    return _end_group(server.wait())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
