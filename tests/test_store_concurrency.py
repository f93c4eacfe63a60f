"""Overlapping saves of one session (threads of one kernel) and turns taken by two
copies of one session (two kernels): nothing waits on another's rename, the newest
snapshot stays, and no turn is lost."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from hermes_nb import models, session_ops
from hermes_nb.errors import SessionChangedError
from hermes_nb.models import Session


def _turn(n: int) -> list[dict]:
    return [{"role": "user", "content": f"q{n}"}, {"role": "assistant", "content": f"a{n}"}]


def _disk(session: Session) -> dict:
    return json.loads(session.path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("skip_index", [True, False])
def test_two_threads_saving_one_session_both_reach_replace(
    session_dir: Path, monkeypatch: pytest.MonkeyPatch, skip_index: bool
) -> None:
    """A lock held across ``os.replace`` would leave the second thread outside the barrier."""
    s = Session(session_id="same_sid", title="t", messages=[{"role": "user", "content": "hello"}])
    s.save(skip_index=True)
    original = os.replace
    barrier = threading.Barrier(2)
    sources: list[str] = []
    errors: list[BaseException] = []

    def replace_with_barrier(src: str, dst: str) -> None:
        sources.append(str(src))
        barrier.wait(timeout=5)
        original(src, dst)

    monkeypatch.setattr(models.os, "replace", replace_with_barrier)

    def worker() -> None:
        try:
            s.save(skip_index=skip_index)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert errors == []
    session_sources = [p for p in sources if "same_sid.json." in p]
    assert len(set(session_sources)) == 2
    assert len(sources) == (2 if skip_index else 4)  # the index writes pair up too
    assert _disk(s)["session_id"] == "same_sid"
    if not skip_index:
        rows = json.loads(models.SESSION_INDEX_FILE.read_text())
        assert [r["session_id"] for r in rows] == ["same_sid"]


def test_the_newest_snapshot_stays_when_an_older_rename_lands_last(
    session_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = Session(session_id="order", title="first")
    s.save()
    original = os.replace
    old_staged = threading.Event()
    new_landed = threading.Event()

    def reordering_replace(src: str, dst: str) -> None:
        if threading.current_thread().name == "older" and "order.json." in src:
            old_staged.set()
            assert new_landed.wait(10)  # hold the older rename until the newer one landed
        original(src, dst)
        if threading.current_thread().name == "newer" and "order.json." in src:
            new_landed.set()

    monkeypatch.setattr(models.os, "replace", reordering_replace)
    errors: list[BaseException] = []

    def older() -> None:
        try:
            s.title = "older"
            s.save(skip_index=True)
        except BaseException as exc:  # reported below
            errors.append(exc)

    def newer() -> None:
        try:
            assert old_staged.wait(10)
            s.title = "newer"
            s.save(skip_index=True)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=older, name="older"), threading.Thread(target=newer, name="newer")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []  # the newer save did not wait for the older one's rename
    assert new_landed.is_set()
    assert _disk(s)["title"] == "newer"
    monkeypatch.undo()
    # the object knows the file it wrote: the next save needs no merge and keeps it
    s.messages.append({"role": "user", "content": "next"})
    s.save()
    assert _disk(s)["title"] == "newer" and len(_disk(s)["messages"]) == 1


def test_index_rows_of_overlapping_saves_all_stay(session_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two sessions saved at once, the index rename of the older one landing last."""
    original = os.replace
    first_waiting = threading.Event()
    second_landed = threading.Event()

    def reordering_replace(src: str, dst: str) -> None:
        index_write = Path(dst).name == "_index.json"
        if index_write and threading.current_thread().name == "a":
            first_waiting.set()
            assert second_landed.wait(10)
        original(src, dst)
        if index_write and threading.current_thread().name == "b":
            second_landed.set()

    monkeypatch.setattr(models.os, "replace", reordering_replace)

    def save_b() -> None:
        assert first_waiting.wait(10)
        Session(session_id="b").save()

    threads = [threading.Thread(target=lambda: Session(session_id="a").save(), name="a"),
               threading.Thread(target=save_b, name="b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert second_landed.is_set()
    rows = json.loads(models.SESSION_INDEX_FILE.read_text())
    assert sorted(r["session_id"] for r in rows) == ["a", "b"]


# ----------------------------------------------------------------- two copies (kernels)


def test_turns_taken_by_two_copies_all_stay(session_dir: Path) -> None:
    """Kernel A turn 1, kernel B turn 2, kernel A turn 3: the file holds all three."""
    Session(session_id="shared").save()
    a, b = Session.load("shared"), Session.load("shared")
    assert a is not None and b is not None
    a.messages += _turn(1)
    a.save()
    b.messages += _turn(2)
    b.input_tokens += 5
    b.save()
    a.messages += _turn(3)
    a.input_tokens += 7
    a.save()
    disk = _disk(a)
    assert [m["content"] for m in disk["messages"]] == ["q1", "a1", "q2", "a2", "q3", "a3"]
    assert disk["input_tokens"] == 12
    assert a.messages == disk["messages"]  # memory says what the file says
    assert models.list_sessions()[0].message_count == 6


def test_an_undo_in_one_copy_does_not_block_the_other(session_dir: Path) -> None:
    """Kernel A undoes; kernel B then takes a turn: saved, and the undone turn stays gone."""
    s = Session(session_id="u", messages=_turn(1) + _turn(2))
    s.save()
    models.SESSIONS.clear()
    b = Session.load("u")  # kernel B's copy, read before the undo
    assert b is not None
    session_ops.undo_last("u")  # kernel A
    b.messages += _turn(3)
    b.save()
    b.save(skip_index=True)  # and again: not refused
    assert [m["content"] for m in _disk(b)["messages"]] == ["q1", "a1", "q3", "a3"]
    assert b.history_rev == 1


def test_refresh_reads_what_another_kernel_saved(session_dir: Path) -> None:
    mine = models.new_session(title="mine")
    other = Session.load(mine.session_id)
    assert other is not None
    other.messages += _turn(1)
    other.title = "renamed elsewhere"
    other.save()
    assert models.get_session(mine.session_id) is mine and mine.messages == []
    assert models.get_session(mine.session_id, refresh=True) is mine  # same object, re-read in place
    assert mine.title == "renamed elsewhere" and len(mine.messages) == 2
    session_ops.undo_last(mine.session_id)
    assert _disk(mine)["messages"] == []


def test_both_copies_rewriting_history_is_refused_then_recovers(session_dir: Path) -> None:
    s = Session(session_id="both", messages=_turn(1) + _turn(2))
    s.save()
    models.SESSIONS.clear()
    mine = models.get_session("both")
    other = Session.load("both")
    assert other is not None
    other.messages = other.messages[:2]
    other.history_rev += 1
    other.save()  # another kernel's undo
    mine.messages = mine.messages[:2]
    mine.history_rev += 1
    with pytest.raises(SessionChangedError, match="agent use both"):
        mine.save()
    assert [m["content"] for m in _disk(mine)["messages"]] == ["q1", "a1"]
    models.refresh_session("both")  # what `%agent use both` does
    assert mine.history_rev == 1 and len(mine.messages) == 2
    mine.messages += _turn(3)
    mine.save()
    assert [m["content"] for m in _disk(mine)["messages"]] == ["q1", "a1", "q3", "a3"]
