"""Is a pending run still owned by a live kernel? Asked without touching its lock.

A kernel holds ``<id>.run.lock`` (an ``flock``) for as long as its run lives, and the
OS drops it when the kernel dies. The kernel itself tells a dead owner by trying to
take that lock; the server must not, since holding it even for a moment could make a
kernel starting or restoring a run at that instant believe another kernel owns it.
So on Linux the server reads ``/proc/locks`` (who holds which inode), elsewhere it
checks whether the owner's process id is alive on this host. A kernel deleting a
session asks the same way: its own cached copy may be older than another kernel's run.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["LockTable", "held_locks"]

log = logging.getLogger("hermes_nb")

PROC_LOCKS = Path("/proc/locks")


class LockTable:
    """The file locks held right now (read once per request)."""

    def __init__(self, held: set[tuple[int, int, int]] | None) -> None:
        #: (major, minor, inode) of every locked file, or None where unknown
        self.held = held

    def run_is_live(self, lock_file: Path, owner: Mapping[str, Any] | None) -> bool:
        """Whether the run whose lock file is ``lock_file`` has a live owner."""
        if self.held is not None:
            try:
                st = os.stat(lock_file)
            except OSError:
                return False
            return (os.major(st.st_dev), os.minor(st.st_dev), st.st_ino) in self.held
        return _owner_alive(owner)


def _owner_alive(owner: Mapping[str, Any] | None) -> bool:
    """Fallback without ``/proc/locks``: the recorded owner process is alive here."""
    if not isinstance(owner, Mapping):
        return False
    if owner.get("host") not in (None, socket.gethostname()):
        return True  # a kernel on another machine: we cannot tell, so do not call it dead
    pid = owner.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def held_locks(proc_locks: Path = PROC_LOCKS) -> LockTable:
    """Parse ``/proc/locks``: ``1: FLOCK  ADVISORY  WRITE 123 fe:00:2146354 0 EOF``."""
    try:
        text = proc_locks.read_text()
    except OSError:
        return LockTable(None)
    held: set[tuple[int, int, int]] = set()
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 6 or fields[1] == "->":  # "->" lines are waiters, not holders
            continue
        try:
            major, minor, inode = fields[5].split(":")
            held.add((int(major, 16), int(minor, 16), int(inode)))
        except ValueError:
            log.debug("unexpected /proc/locks line: %s", line)
    return LockTable(held)
