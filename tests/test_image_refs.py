"""Image references in a session file are read like session files: regular files in
the sessions folder, bounded, never through a link, never waiting on a FIFO."""

from __future__ import annotations

import json
import os
import resource
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from turn_harness import Recorder, chart_agent, on_disk, png

from hermes_nb import models, streaming
from hermes_nb.agent.images import ImageStore
from hermes_nb.agent.providers.replay import ReplayProvider
from hermes_nb.kernel.cell_loop import drive

SCRIPT = {"vision": True, "replies": [{"tool_calls": [{"name": "chart", "arguments": {}}]}, "Blue.", "Still here."]}


def _first_run(sid: str) -> Path:
    """A turn that saved one image; its file's path."""
    outcome = drive(streaming.Run(sid, "plot it", checkpoint_interval=0.2), chart_agent(ReplayProvider(script=SCRIPT), sid), Recorder(), flush_interval=0.01)
    assert outcome.stop_reason == "complete"
    [ref] = next(m for m in on_disk(sid)["messages"] if m["role"] == "tool")["images"]
    return models.SESSION_DIR / ref["path"]


def _later_run(sid: str, timeout: float = 30.0) -> tuple[list[Any], float]:
    """A second request of the session, in a thread (a hang must not hang the test)."""
    models.SESSIONS.clear()
    provider = ReplayProvider(script=SCRIPT)
    done = threading.Event()
    started = time.monotonic()

    def go() -> None:
        drive(streaming.Run(sid, "and now?", checkpoint_interval=0.2), chart_agent(provider, sid), Recorder(), flush_interval=0.01)
        done.set()

    threading.Thread(target=go, daemon=True).start()
    assert done.wait(timeout), "the run hung on an image reference"
    return provider.requests[0], time.monotonic() - started


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.parametrize("kind", ["fifo", "dev_zero", "link_out", "folder_link"])
def test_a_hostile_image_reference_is_a_note_and_the_run_completes(session_dir: Path, tmp_path: Path, kind: str) -> None:
    sid = models.new_session(title="t", notebook="nb.ipynb").session_id
    image = _first_run(sid)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / image.name).write_bytes(image.read_bytes())
    image.unlink()
    if kind == "fifo":
        os.mkfifo(image)
    elif kind == "dev_zero":
        os.symlink("/dev/zero", image)
    elif kind == "link_out":
        os.symlink(outside / image.name, image)
    else:
        image.parent.rmdir()
        os.symlink(outside, image.parent)
    before = _peak_mb()
    try:
        sent, seconds = _later_run(sid)
    finally:
        if kind == "fifo":  # release a reader still blocked on it (the unfixed code)
            try:
                os.close(os.open(image, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                pass
    assert seconds < 20 and _peak_mb() - before < 200
    carrier = [m for m in sent if m["role"] == "user" and isinstance(m["content"], list)]
    assert carrier == []  # nothing was attached
    tool = next(m for m in sent if m["role"] == "tool")
    assert "not attached here" in json.dumps(tool)
    assert on_disk(sid)["messages"][-1]["content"] == "Still here."


def test_an_image_folder_linked_out_is_not_written_through(session_dir: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    os.symlink(outside, session_dir / "s1.files")
    from hermes_nb.agent.images import ToolImage

    ref = ImageStore(session_dir, "s1").save(ToolImage(png()))
    assert "path" not in ref and list(outside.iterdir()) == []
