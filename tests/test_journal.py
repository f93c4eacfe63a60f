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

import pytest
from kill_points import STEPS, kill_at, run_until_killed

from hermes_nb import models, streaming
from hermes_nb.agent.loop import TurnResult
from hermes_nb.models import Session
from hermes_nb.store import journal


def _history(n: int) -> list[dict[str, Any]]:
    return [{"role": "user" if i % 2 == 0 else "assistant", "content": f"m{i} " + "x" * 200} for i in range(n)]


def _tool_step(run: streaming.Run, k: int) -> None:
    call = {"id": f"c{k}", "type": "function", "function": {"name": "python", "arguments": "{}"}}
    run.turn.add_message({"role": "assistant", "content": None, "tool_calls": [call]})
    run.turn.add_message({"role": "tool", "tool_call_id": f"c{k}", "content": f"r{k}"})


def _file_identity(path: Path) -> tuple[int, int, bytes]:
    st = os.stat(path)
    return st.st_ino, st.st_mtime_ns, path.read_bytes()


def _one_run(session_id: str, k: int, *, checkpoints: int = 1) -> None:
    run = streaming.Run(session_id, f"q{k}", checkpoint_interval=3600)
    run.start()
    for j in range(checkpoints):
        _tool_step(run, k * 100 + j)
        run.turn.append_text(f"partial {k}")
        assert run.checkpoint() is True
    snap = run.turn.snapshot()
    assert run.finish(TurnResult(messages=[*snap.messages, {"role": "assistant", "content": f"a{k}"}]))


def test_a_run_appends_to_the_journal_and_leaves_the_session_file_alone(session_dir: Path) -> None:
    session = models.new_session(title="long")
    session.messages = _history(2000)
    session.save()
    path = session.path
    before = _file_identity(path)
    turn_file = journal.path_for(session_dir, session.session_id)
    run = streaming.Run(session.session_id, "go", checkpoint_interval=3600)
    run.start()
    try:
        # the pending mark is one small record: a fresh reader (a restore) sees the request
        assert turn_file.stat().st_size < 1000
        fresh = Session.load(session.session_id)
        assert fresh is not None and fresh.active_stream_id == run.stream_id
        assert fresh.pending_user_message == "go"
        sizes = []
        for k in range(5):
            _tool_step(run, k)
            run.turn.append_text(f"partial {k}")
            assert run.checkpoint() is True
            sizes.append(turn_file.stat().st_size)
        # each checkpoint appends what changed, not the turn so far
        steps = [b - a for a, b in zip(sizes, sizes[1:], strict=False)]
        assert max(steps) < 2 * min(steps) and max(steps) < 1000, steps
        fresh = Session.load(session.session_id)
        assert fresh is not None and fresh.pending_partial_text == "partial 4"
        assert [m.get("content") for m in fresh.pending_messages if m["role"] == "tool"] == [f"r{k}" for k in range(5)]
        assert len(fresh.messages) == 2000
        snap = run.turn.snapshot()
    finally:
        assert run.finish(TurnResult(messages=[*snap.messages, {"role": "assistant", "content": "done"}]))
    assert _file_identity(path) == before  # never rewritten: start, checkpoints, the end
    assert turn_file.stat().st_size < path.stat().st_size / 20
    for reader in (Session.load(session.session_id), models.get_session(session.session_id)):
        assert reader is not None and not reader.pending and not reader.pending_messages
        contents = [m.get("content") for m in reader.messages]
        assert len(contents) == 2000 + 1 + 11 and contents[2000] == "go" and contents[-1] == "done"
    row = models.list_sessions(include_all=True)[0]
    assert row.message_count == 2012 and not row.pending


def test_checkpoints_of_streaming_text_append_only_the_new_text(session_dir: Path) -> None:
    session = models.new_session(title="stream")
    run = streaming.Run(session.session_id, "write an essay", checkpoint_interval=3600)
    run.start()
    turn_file = journal.path_for(session_dir, session.session_id)
    growth = []
    try:
        for k in range(10):
            before = turn_file.stat().st_size
            run.turn.append_text(f"[{k}]" + "w" * 1000)
            assert run.checkpoint() is True
            growth.append(turn_file.stat().st_size - before)
        fresh = Session.load(session.session_id)
        assert fresh is not None
        assert fresh.pending_partial_text == "".join(f"[{k}]" + "w" * 1000 for k in range(10))
    finally:
        run.abandon()
    assert max(growth) < 1200, growth  # the change, not the answer so far (10 KB at the end)


def test_the_journal_is_folded_once_it_outgrows_its_share_of_the_file(session_dir: Path) -> None:
    session = models.new_session(title="folds")
    session.messages = _history(40)
    session.save()
    sid = session.session_id
    turn_file = journal.path_for(session_dir, sid)
    written = 0
    rewrites = 0
    last = _file_identity(session.path)
    for k in range(30):
        _one_run(sid, k)
        now = _file_identity(session.path)
        if now != last:
            rewrites += 1
            # folded into the file, and a new journal waits for the next run's records
            assert turn_file.read_bytes().count(b"\n") == 1
            written += len(now[2])
        last = now
        if turn_file.exists():
            assert turn_file.stat().st_size <= streaming.FOLD_AT * session.path.stat().st_size + 4000
        fresh = Session.load(sid)
        assert fresh is not None and fresh.messages[-1]["content"] == f"a{k}" and not fresh.pending
    # rewrites happen, but rarely: their bytes stay a small multiple of what runs added
    added = session.path.stat().st_size - len(_history(40)) * 200
    assert 1 <= rewrites <= 12, rewrites
    assert written < 8 * added, (written, added)
    models.SESSIONS.clear()
    loaded = Session.load(sid)
    assert loaded is not None
    contents = [m.get("content") for m in loaded.messages]
    assert [c for c in contents if isinstance(c, str) and c[:1] == "a" and c[1:].isdigit()] == [f"a{k}" for k in range(30)]


def test_a_journal_counts_only_for_the_file_version_it_names(session_dir: Path) -> None:
    s = Session(session_id="s1", messages=_history(4))
    s.save()
    s.messages = [*s.messages, {"role": "user", "content": "appended"}]
    s.save_changes()
    turn = journal.path_for(session_dir, "s1")
    stale = turn.read_bytes()
    loaded = Session.load("s1")
    assert loaded is not None and loaded.messages[-1]["content"] == "appended"
    s.save()  # a full write folds the journal and removes it
    assert not turn.exists()
    turn.write_bytes(stale + journal.line({"add": [{"role": "user", "content": "revived?"}]}))
    loaded = Session.load("s1")  # left by a crash between the rewrite and the removal
    assert loaded is not None and [m["content"] for m in loaded.messages].count("appended") == 1
    assert "revived?" not in [m["content"] for m in loaded.messages]
    # the next append starts a journal of its own over the stale one
    s.messages = [*s.messages, {"role": "assistant", "content": "after"}]
    s.save_changes()
    models.SESSIONS.clear()
    loaded = Session.load("s1")
    assert loaded is not None
    assert [m["content"] for m in loaded.messages][-2:] == ["appended", "after"]


def test_a_torn_last_line_is_dropped_and_never_appended_to(session_dir: Path) -> None:
    s = Session(session_id="s3", messages=_history(4))
    s.save()
    for k in range(3):
        s.messages = [*s.messages, {"role": "user", "content": f"settled {k}"}]
        s.save_changes()
    turn = journal.path_for(session_dir, "s3")
    whole = turn.read_bytes()
    torn_record = journal.line({"add": [{"role": "user", "content": "torn"}]})
    with open(turn, "ab") as fh:  # what a SIGKILL in the middle of a write leaves
        fh.write(torn_record[: len(torn_record) // 2])
    loaded = Session.load("s3")
    assert loaded is not None
    assert [m["content"] for m in loaded.messages][-3:] == ["settled 0", "settled 1", "settled 2"]
    # a writer that read the torn journal rewrites the file instead of appending after garbage
    models.SESSIONS.clear()
    session = models.get_session("s3")
    session.messages = [*session.messages, {"role": "user", "content": "next"}]
    session.save_changes()
    assert not turn.exists() or turn.read_bytes() != whole + torn_record[: len(torn_record) // 2]
    models.SESSIONS.clear()
    loaded = Session.load("s3")
    assert loaded is not None
    assert [m["content"] for m in loaded.messages][-4:] == ["settled 0", "settled 1", "settled 2", "next"]
    # a bad line in the middle: the settled lines before it count, nothing after it
    s4 = Session(session_id="s4", messages=[])
    s4.save()
    s4.messages = [{"role": "user", "content": "first"}]
    s4.save_changes()
    turn4 = journal.path_for(session_dir, "s4")
    with open(turn4, "ab") as fh:
        fh.write(b'{"add": "not a list"}\n' + journal.line({"add": [{"role": "user", "content": "after bad"}]}))
    loaded = Session.load("s4")
    assert loaded is not None and [m["content"] for m in loaded.messages] == ["first"]


def test_an_older_journal_layout_is_still_folded_for_its_run(session_dir: Path) -> None:
    """A run left by a dead kernel of the previous version: its one-object journal."""
    raw = {"session_id": "s5", "messages": [], "active_stream_id": "run-a", "pending_user_message": "hi"}
    (session_dir / "s5.json").write_text(json.dumps(raw))
    turn = journal.path_for(session_dir, "s5")
    turn.write_text(json.dumps({"run_id": "run-old", "pending_messages": [], "pending_partial_text": "stale"}))
    loaded = Session.load("s5")
    assert loaded is not None and loaded.pending_partial_text == ""
    turn.write_text(json.dumps({"run_id": "run-a", "pending_messages": [{"role": "tool", "content": "r"}],
                                "pending_partial_text": "kept"}))
    loaded = Session.load("s5")
    assert loaded is not None and loaded.pending_partial_text == "kept"
    assert loaded.pending_messages == [{"role": "tool", "content": "r"}]
    streaming.restore_interrupted(None)
    models.SESSIONS.clear()
    loaded = Session.load("s5")
    assert loaded is not None and not loaded.pending
    assert [m.get("content") for m in loaded.messages][:3] == ["hi", "r", "kept"]
    assert not turn.exists()


def test_an_unusable_journal_is_ignored(session_dir: Path) -> None:
    s = Session(session_id="s2", active_stream_id="run-a", pending_partial_text="kept")
    s.save()
    turn = journal.path_for(session_dir, "s2")
    for garbage in (b"{not json", b"[]", b'{"run_id": "run-a", "pending_messages": "x", "pending_partial_text": ""}',
                    b"[" * 100_000, b'{"journal": 1, "base": 7}\n{"add": []}\n', b"\n\n\n"):
        turn.write_bytes(garbage)
        loaded = Session.load("s2")
        assert loaded is not None and loaded.pending_partial_text == "kept"
    turn.unlink()
    turn.mkdir()
    loaded = Session.load("s2")
    assert loaded is not None and loaded.pending_partial_text == "kept"


# --------------------------------------------------------------------------- SIGKILL


def _runs_forever(folder: str, ready: Any, first: int, fold_at: float, kill: tuple[str, str, int] | None = None) -> None:
    """Play runs on session 'victim' one after another until killed; ``kill`` =
    (progress word, step, n): the first run arms that kill point once it got there."""
    path = Path(folder)
    models.set_session_dir(path)
    models.SESSION_DIR = path
    models.SESSION_INDEX_FILE = path / "_index.json"
    progress = open(path / "progress", "a", buffering=1)  # noqa: SIM115 - lives until the kill
    streaming.FOLD_AT = fold_at  # small: final saves rewrite the file; large: they append
    turn_file = journal.path_for(path, "victim")
    ready.set()

    def mark(word: str, k: int) -> None:
        progress.write(f"{word} {k}\n")
        if kill is not None and k == first and word == kill[0]:
            kill_at(kill[1], kill[2])

    k = first
    while True:
        run = streaming.Run("victim", f"q{k}", checkpoint_interval=3600)
        mark("start", k)
        run.start()
        _tool_step(run, k)
        run.turn.append_text("thinking")
        run.checkpoint()
        mark("checkpointed", k)
        snap = run.turn.snapshot()
        if turn_file.stat().st_size > streaming.FOLD_AT * (path / "victim.json").stat().st_size:
            mark("folding", k)  # this run's final save rewrites the file
        run.finish(TurnResult(messages=[*snap.messages, {"role": "assistant", "content": f"a{k}"}]))
        mark("done", k)
        k += 1


def _progress(folder: Path) -> dict[int, set[str]]:
    seen: dict[int, set[str]] = {}
    for line in (folder / "progress").read_text().splitlines():
        word, _, num = line.partition(" ")
        if num.isdigit():
            seen.setdefault(int(num), set()).add(word)
    return seen


def _check_after_kill(session_dir: Path) -> tuple[int, set[str]]:
    """Restore the killed run and check nothing was lost or doubled; the last run's
    number and the progress it made."""
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
    return last, seen.get(last, set())


def test_a_kernel_killed_at_each_step_of_start_checkpoint_or_fold_loses_nothing(session_dir: Path) -> None:
    """Deliberate kill points: at the first write, fsync and rename (before and after)
    once a run started, and once it checkpointed (its final save, which rewrites the
    file in half the children and appends to the journal in the others)."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["hermes_nb.models", "hermes_nb.streaming", "filelock", __name__])
    Session(session_id="victim", messages=_history(3000)).save()
    (session_dir / "progress").write_text("")
    first = 1
    mid_start = mid_fold = mid_append = 0
    for phase in ("start", "checkpointed"):
        for step in STEPS:
            for nth in (1,):
                for fold_at in (0.0, 1000.0):  # every final save rewrites the file, or none
                    code = run_until_killed(
                        ctx, _runs_forever, str(session_dir), first=first, fold_at=fold_at, kill=(phase, step, nth)
                    )
                    assert code == -signal.SIGKILL, (phase, step, nth, code)
                    last, words = _check_after_kill(session_dir)
                    in_end = "checkpointed" in words and "done" not in words
                    mid_start += "checkpointed" not in words
                    mid_fold += in_end and "folding" in words
                    mid_append += in_end and "folding" not in words
                    first = last + 1
    # every kill landed where it was armed: 8 in a run's start, 8 in its final save
    assert (mid_start, mid_fold, mid_append) == (8, 4, 4)


@pytest.mark.slow
def test_a_kernel_killed_during_start_checkpoint_or_fold_loses_nothing(session_dir: Path) -> None:
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["hermes_nb.models", "hermes_nb.streaming", "filelock", __name__])
    victim = Session(session_id="victim", messages=_history(3000))
    victim.save()
    (session_dir / "progress").write_text("")
    rng = random.Random(4321)
    first = 1
    mid_end = 0  # kills that landed after a checkpoint, before the run's final save ended
    mid_fold = 0  # of those, kills during a final save that rewrote the file
    mid_append = 0  # kills during a final save that appended to the journal
    kills = 0
    # half the children fold at (nearly) every final save, half only append; more kills
    # (up to 60) when chance has not yet put one inside each kind of final save
    while kills < 30 or (kills < 60 and not (mid_end >= 3 and mid_fold >= 1 and mid_append >= 1)):
        fold_at = 0.004 if kills % 2 else 1000.0
        kills += 1
        ready = ctx.Event()
        proc = ctx.Process(target=_runs_forever, args=(str(session_dir), ready, first, fold_at))
        proc.start()
        assert ready.wait(20)
        time.sleep(rng.uniform(0.02, 0.3))
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(10)
        assert proc.exitcode == -signal.SIGKILL
        last, words = _check_after_kill(session_dir)
        in_end = "checkpointed" in words and "done" not in words
        mid_end += in_end
        mid_fold += in_end and "folding" in words
        mid_append += in_end and "folding" not in words
        first = last + 1
    assert first > 30  # the children did get work done
    assert mid_end >= 3 and mid_fold >= 1 and mid_append >= 1, (mid_end, mid_fold, mid_append)
