"""Several processes on one sessions folder; a writer killed at deliberate points and at random moments."""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from kill_points import STEPS, kill_at, run_until_killed

from hermes_nb import models
from hermes_nb.models import Session
from hermes_nb.safety import fsio

WRITER = """
import sys
from hermes_nb import config, models
from hermes_nb.models import Session

folder, tag = sys.argv[1], sys.argv[2]
models.set_session_dir(folder)
for i in range(15):
    s = Session(session_id=f"{tag}_{i}", title=f"{tag} {i}")
    s.save()
    s.messages.append({"role": "user", "content": "x"})
    s.save()
# read-merge-write of one shared session under the cross-process lock
for i in range(25):
    with config.session_file_lock("shared"):
        s = Session.load("shared") or Session(session_id="shared")
        s.messages.append({"role": "user", "content": f"{tag}-{i}"})
        s.save()
print("ok", flush=True)
"""


def test_two_processes_write_sessions_in_one_folder(session_dir: Path) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(session_dir), tag],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for tag in ("p1", "p2")
    ]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        assert out.strip() == "ok"
    rows = {r.id: r for r in models.list_sessions()}
    assert len(rows) == 31
    for tag in ("p1", "p2"):
        for i in range(15):
            assert rows[f"{tag}_{i}"].message_count == 1
    shared = Session.load("shared")
    assert shared is not None
    contents = [m["content"] for m in shared.messages]
    assert len(contents) == 50  # no lost update
    assert [c for c in contents if c.startswith("p1")] == [f"p1-{i}" for i in range(25)]
    assert rows["shared"].message_count == 50
    for path in session_dir.glob("*.json"):
        json.loads(path.read_text())
    assert not list(session_dir.glob(f"{fsio.TEMP_PREFIX}*"))


def _write_forever(folder: str, ready: Any, kill: tuple[str, int] | None = None) -> None:
    """Child: save growing/shrinking versions of one session as fast as possible
    (until killed, or until it kills itself at the ``kill`` point)."""
    models.set_session_dir(folder)
    models.SESSIONS.clear()
    s = Session.load("victim") or Session(session_id="victim")
    k = int(s.extra.get("k", 0))
    ready.set()
    if kill is not None:
        kill_at(*kill)
    while True:
        k += 1
        s.extra["k"] = k
        s.messages = [{"role": "user", "content": "x" * 200}] * (k % 7 * 30)
        with open(os.path.join(folder, "progress"), "a") as log:  # durable only for this check
            log.write(f"start {k}\n")
        s.save(skip_index=k % 3 != 0)
        with open(os.path.join(folder, "progress"), "a") as log:
            log.write(f"done {k}\n")


def _last_progress(folder: Path, before: int) -> tuple[int, int | None]:
    """(last finished state, state being written when killed or None) of one child."""
    done, started = before, None
    for line in (folder / "progress").read_text().splitlines():
        word, _, num = line.partition(" ")
        if not num.isdigit():
            continue  # a half-written line from the kill
        if word == "start":
            started = int(num)
        elif word == "done":
            done, started = int(num), None
    return done, started


def _check_victim(session_dir: Path, before: int) -> tuple[int, int | None]:
    """What a killed writer left: a file that parses, holding the last finished state or
    the one being written. (state on disk, state being written when killed or None)"""
    done, started = _last_progress(session_dir, before=before)
    data = json.loads((session_dir / "victim.json").read_bytes())  # always parses
    k = data.get("k", 0)
    assert k in {done, started}, (k, done, started)
    assert len(data["messages"]) == k % 7 * 30
    return k, started


def _check_after_kills(session_dir: Path) -> None:
    assert not list(session_dir.glob("*.corrupt-*"))
    loaded = Session.load("victim")
    assert loaded is not None
    # whatever temp files the kills left are swept once old
    leftovers = list(session_dir.glob(f"{fsio.TEMP_PREFIX}*"))
    past = time.time() - 3600
    for tmp in leftovers:
        os.utime(tmp, (past, past))
    models.set_session_dir(session_dir)
    assert not list(session_dir.glob(f"{fsio.TEMP_PREFIX}*"))


def test_writer_killed_at_each_step_of_a_save(session_dir: Path) -> None:
    """The same writer kills itself at deliberate points: half way through writing a
    file, before a file's or the folder's fsync, just before and just after a rename;
    at the first to seventh such step (a full save, an index row, a checkpoint)."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["hermes_nb.models", "hermes_nb.config", "filelock", __name__])
    Session(session_id="victim").save()  # a kill in the very first save leaves this one
    k = 0
    for step in STEPS:
        for nth in range(1, 8):
            (session_dir / "progress").write_text("")
            code = run_until_killed(ctx, _write_forever, str(session_dir), kill=(step, nth))
            assert code == -signal.SIGKILL, (step, nth, code)
            k, started = _check_victim(session_dir, before=k)
            assert started is not None, (step, nth)  # the kill landed inside a save
    assert k >= 10
    _check_after_kills(session_dir)


@pytest.mark.slow
def test_writer_killed_at_random_moments(session_dir: Path) -> None:
    # Children fork from a clean single-threaded server: no lock held by another test's
    # thread can be copied into them, and no start-up import per child.
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["hermes_nb.models", "hermes_nb.config", "filelock", __name__])
    rng = random.Random(1234)
    mid_save = 0  # kills that landed while a save was in progress
    k = 0
    for _ in range(50):
        (session_dir / "progress").write_text("")
        ready = ctx.Event()
        proc = ctx.Process(target=_write_forever, args=(str(session_dir), ready))
        proc.start()
        assert ready.wait(10)
        time.sleep(rng.uniform(0, 0.03))
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(10)
        assert proc.exitcode == -signal.SIGKILL
        k, started = _check_victim(session_dir, before=k)
        mid_save += started is not None
    assert mid_save >= 10 and k >= 10
    _check_after_kills(session_dir)
