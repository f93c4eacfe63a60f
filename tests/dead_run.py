"""What a kernel killed mid-run leaves on disk, for restore and resume tests."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hermes_nb import config, models


def leave_dead_run(session_id: str, partial: str = "") -> None:
    """Leave on disk what a kernel killed after its first tool result leaves behind:
    a pending request, one of two tool calls answered, maybe some answer text."""
    with config._get_session_agent_lock(session_id):
        session = models.get_session(session_id)
        session.active_stream_id = "deadbeef00000000"
        session.active_stream_owner = {"pid": 999999, "host": "gone", "started_at": 1.0}
        session.pending_user_message = "analyse the data"
        session.pending_started_at = time.time() - 60
        session.pending_messages = [
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "python", "arguments": "{\"code\": \"1+1\"}"}},
                {"id": "c2", "type": "function", "function": {"name": "python", "arguments": "{\"code\": \"2+2\"}"}},
            ]},
            {"role": "tool", "tool_call_id": "c1", "content": "2"},
        ]
        session.pending_partial_text = partial
        session.save()


KILLED_BEFORE_ITS_ROW = """
import os, signal, sys
from hermes_nb import models, streaming
models.set_session_dir(sys.argv[1])
run = streaming.Run(sys.argv[2], "analyse the data")
run.start(checkpoints=False)  # the thread that writes the pending index row never starts
os.kill(os.getpid(), signal.SIGKILL)
"""


def leave_run_killed_before_its_row(session_dir: Path, session_id: str) -> None:
    """A kernel SIGKILLed right after its request was saved, before the index row said
    pending: the session is marked ``<id>.running`` and its journal holds the request."""
    done = subprocess.run(
        [sys.executable, "-c", KILLED_BEFORE_ITS_ROW, str(session_dir), session_id],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr


@contextmanager
def run_lock_held_elsewhere(lock_file: Path) -> Iterator[None]:
    """Another process holds this run lock, as a live kernel running that session does."""
    holder = subprocess.Popen(
        [sys.executable, "-c", (
            "import time, filelock; "
            f"lock = filelock.FileLock({str(lock_file)!r}); lock.acquire(); "
            "print('held', flush=True); time.sleep(60)"
        )],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        yield
    finally:
        holder.kill()
        holder.wait()
