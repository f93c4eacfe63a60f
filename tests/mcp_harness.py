"""The MCP test server (``tests/mcp_test_server.py``) as the tests start it."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["SERVER", "alive"]

#: the test server's script: ``[sys.executable, SERVER]`` serves stdio
SERVER = str(Path(__file__).with_name("mcp_test_server.py"))


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead for our purpose
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True
