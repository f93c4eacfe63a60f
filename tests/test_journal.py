"""The turn journal: checkpoints cost the turn, not the session, and lose nothing."""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import time
from pathlib import Path
from typing import Any

from hermes_nb import journal, models, streaming
from hermes_nb.agent.loop import TurnResult
from hermes_nb.models import Session


def _history(n: int) -> list[dict[str, Any]]:
    return [{"role": "user" if i % 2 == 0 else "assistant", "content": f"m{i} " + "x" * 200} for i in range(n)]


def _tool_step(run: streaming.Run, k: int) -> None:
    call = {"id": f"c{k}", "type": "function", "function": {"name": "python", "arguments": "{}"}}
    run.turn.add_message({"role": "assistant", "content": None, "tool_calls": [call]})
    run.turn.add_message({"role": "tool", "tool_call_id": f"c{k}", "content": f"r{k}"})


def test_checkpoints_write_the_turn_beside_the_untouched_session_file(session_dir: Path) -> None:
    session = models.new_session(title="long")
    session.messages = _history(2000)
    session.save()
    run = streaming.Run(session.session_id, "go", checkpoint_interval=3600)
    run.start()
    try:
        path = session.path
        before = (os.stat(path).st_ino, os.stat(path).st_mtime_ns, path.read_bytes())
        for k in range(5):
            _tool_step(run, k)
            run.turn.append_text(f"partial {k}")
            assert run.checkpoint() is True
        assert (os.stat(path).st_ino, os.stat(path).st_mtime_ns, path.read_bytes()) == before
        turn_file = journal.path_for(session_dir, session.session_id)
        assert turn_file.stat().st_size < path.stat().st_size / 20
        # a fresh reader (a new kernel, a restore) sees the checkpoint
        fresh = Session.load(session.session_id)
        assert fresh is not None and fresh.pending_partial_text == "partial 4"
        assert [m.get("content") for m in fresh.pending_messages if m["role"] == "tool"] == [f"r{k}" for k in range(5)]
        assert len(fresh.messages) == 2000
    finally:
        run.fail(RuntimeError("test over"))
    assert not journal.path_for(session_dir, session.session_id).exists()
    folded = json.loads(session.path.read_text())
    assert [m["content"] for m in folded["messages"] if m["role"] == "tool"] == [f"r{k}" for k in range(5)]
    assert folded["active_stream_id"] is None


def test_a_journal_counts_only_for_the_run_the_file_names(session_dir: Path) -> None:
    s = Session(session_id="s1", active_stream_id="run-a", pending_user_message="hi",
                pending_partial_text="from the file")
    s.save()
    journal.write(session_dir, "s1", "run-old", [{"role": "tool", "content": "stale"}], "stale text")
    loaded = Session.load("s1")
    assert loaded is not None and loaded.pending_partial_text == "from the file"
    journal.write(session_dir, "s1", "run-a", [{"role": "tool", "content": "new"}], "new text")
    loaded = Session.load("s1")
    assert loaded is not None and loaded.pending_partial_text == "new text"
    # folded and cleared: a journal left behind by a crash before its removal is stale
    s.active_stream_id = None
    s.pending_user_message = None
    s.save()
    loaded = Session.load("s1")
    assert loaded is not None and loaded.pending_partial_text == "from the file" and not loaded.pending_messages


def test_an_unusable_journal_is_ignored(session_dir: Path) -> None:
    s = Session(session_id="s2", active_stream_id="run-a", pending_partial_text="kept")
    s.save()
    turn = journal.path_for(session_dir, "s2")
    for garbage in (b"{not json", b"[]", b'{"run_id": "run-a", "pending_messages": "x", "pending_partial_text": ""}',
                    b"[" * 100_000):
        turn.write_bytes(garbage)
        loaded = Session.load("s2")
        assert loaded is not None and loaded.pending_partial_text == "kept"
    turn.unlink()
    turn.mkdir()
    loaded = Session.load("s2")
    assert loaded is not None and loaded.pending_partial_text == "kept"


# --------------------------------------------------------------------------- SIGKILL


def _runs_forever(folder: str, ready: Any, first: int) -> None:
    """Play runs on session 'victim' one after another until killed."""
    path = Path(folder)
    models.set_session_dir(path)
    models.SESSION_DIR = path
    models.SESSION_INDEX_FILE = path / "_index.json"
    progress = open(path / "progress", "a", buffering=1)  # noqa: SIM115 - lives until the kill
    ready.set()
    k = first
    while True:
        run = streaming.Run("victim", f"q{k}", checkpoint_interval=3600)
        progress.write(f"start {k}\n")
        run.start()
        _tool_step(run, k)
        run.turn.append_text("thinking")
        run.checkpoint()
        progress.write(f"checkpointed {k}\n")
        snap = run.turn.snapshot()
        run.finish(TurnResult(messages=[*snap.messages, {"role": "assistant", "content": f"a{k}"}]))
        progress.write(f"done {k}\n")
        k += 1


def _progress(folder: Path) -> dict[int, set[str]]:
    seen: dict[int, set[str]] = {}
    for line in (folder / "progress").read_text().splitlines():
        word, _, num = line.partition(" ")
        if num.isdigit():
            seen.setdefault(int(num), set()).add(word)
    return seen


def test_a_kernel_killed_during_start_checkpoint_or_fold_loses_nothing(session_dir: Path) -> None:
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["hermes_nb.models", "hermes_nb.streaming", "filelock", __name__])
    victim = Session(session_id="victim", messages=_history(3000))
    victim.save()
    (session_dir / "progress").write_text("")
    rng = random.Random(4321)
    first = 1
    mid_fold = 0  # kills that landed after a checkpoint, before the run's final save ended
    for _ in range(25):
        ready = ctx.Event()
        proc = ctx.Process(target=_runs_forever, args=(str(session_dir), ready, first))
        proc.start()
        assert ready.wait(20)
        time.sleep(rng.uniform(0.02, 0.3))
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(10)
        assert proc.exitcode == -signal.SIGKILL
        models.SESSIONS.clear()
        streaming.restore_interrupted(None)
        models.SESSIONS.clear()
        data = Session.load("victim")
        assert data is not None and not data.active_stream_id
        contents = [m.get("content") for m in data.messages]
        seen = _progress(session_dir)
        for k, words in seen.items():
            if "checkpointed" in words:  # the request and the tool result are kept, once
                assert contents.count(f"q{k}") == 1, (k, words)
                assert contents.count(f"r{k}") == 1, (k, words)
            else:  # killed before its pending save finished: at most once
                assert contents.count(f"q{k}") <= 1, (k, words)
            if "done" in words:
                assert contents.count(f"a{k}") == 1, (k, words)
        last = max(seen, default=0)
        mid_fold += "checkpointed" in seen.get(last, set()) and "done" not in seen.get(last, set())
        first = last + 1
    assert first > 25  # the children did get work done
    assert mid_fold >= 3, mid_fold
