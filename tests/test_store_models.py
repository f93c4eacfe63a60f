"""Session dataclass, save/load, cache and module functions of ``hermes_nb.models``."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from hermes_nb import models
from hermes_nb.errors import (
    InvalidSessionIdError,
    ReadOnlySessionError,
    SessionNotFoundError,
)
from hermes_nb.models import Session
from hermes_nb.store.cache import SessionCache


def _user(text: str) -> dict:
    return {"role": "user", "content": text}


def _assistant(text: str) -> dict:
    return {"role": "assistant", "content": text}


# --------------------------------------------------------------------------- ids


@pytest.mark.parametrize(
    "bad",
    ["", "../etc", "a/b", "a\\b", "a.b", "x" * 65, "é", " a", "a\n", None, 5, ".."],
)
def test_invalid_ids_are_rejected_everywhere(session_dir: Path, bad: object) -> None:
    with pytest.raises(InvalidSessionIdError):
        models.validate_session_id(bad)
    with pytest.raises(ValueError):  # InvalidSessionIdError is also a ValueError
        Session(session_id=bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidSessionIdError):
        Session.load(bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidSessionIdError):
        models.get_session(bad)  # type: ignore[arg-type]
    assert list(session_dir.iterdir()) == []


@pytest.mark.parametrize("good", ["a", "A-b_9", "x" * 64, "20250101_120000_deadbeef"])
def test_valid_ids(good: str) -> None:
    assert models.validate_session_id(good) == good


def test_new_ids_are_valid_and_unique() -> None:
    ids = {Session().session_id for _ in range(200)}
    assert len(ids) == 200
    for sid in ids:
        models.validate_session_id(sid)


# --------------------------------------------------------------------------- save/load


def test_path_reads_session_dir_at_call_time(
    session_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = Session(session_id="abc")
    assert s.path == session_dir / "abc.json"
    monkeypatch.setattr(models, "SESSION_DIR", tmp_path / "other")
    assert s.path == tmp_path / "other" / "abc.json"


def test_round_trip_keeps_every_field(session_dir: Path) -> None:
    s = Session(
        session_id="rt",
        title="Sales",
        notebook="sales.ipynb",
        model="openai:gpt-4.1-mini",
        messages=[_user("hi"), _assistant("hello ✓")],
        active_stream_id="run1",
        active_stream_owner={"pid": 1, "host": "h", "started_at": 1.0},
        pending_user_message="next",
        pending_attachments=["a.csv"],
        pending_started_at=5.0,
        pending_messages=[{"role": "tool", "tool_call_id": "c1", "content": "ok"}],
        pending_partial_text="partial",
        input_tokens=10,
        output_tokens=20,
        estimated_cost=0.5,
        manual_title=True,
        parent_session_id="parent",
    )
    s.save()
    loaded = Session.load("rt")
    assert loaded is not None
    assert loaded.to_dict() == s.to_dict()
    assert loaded == s
    assert loaded.schema_version == models.SCHEMA_VERSION


def test_unknown_keys_survive_load_and_save(session_dir: Path) -> None:
    data = Session(session_id="unk", messages=[_user("x")]).to_dict()
    data["future_field"] = {"nested": [1, 2]}
    data["another"] = "kept"
    (session_dir / "unk.json").write_text(json.dumps(data))
    loaded = Session.load("unk")
    assert loaded is not None
    assert loaded.extra == {"future_field": {"nested": [1, 2]}, "another": "kept"}
    loaded.title = "changed"
    loaded.save()
    on_disk = json.loads((session_dir / "unk.json").read_text())
    assert on_disk["future_field"] == {"nested": [1, 2]}
    assert on_disk["another"] == "kept"
    assert on_disk["title"] == "changed"
    assert "extra" not in on_disk


def test_touch_updated_at(session_dir: Path) -> None:
    s = Session(session_id="t", updated_at=100.0)
    s.save(touch_updated_at=False)
    assert s.updated_at == 100.0
    assert json.loads(s.path.read_text())["updated_at"] == 100.0
    before = time.time()
    s.save()
    assert s.updated_at >= before


def test_load_missing_returns_none_and_cache_is_untouched(session_dir: Path) -> None:
    assert Session.load("nothere") is None
    Session(session_id="ondisk").save()
    assert Session.load("ondisk") is not None
    assert "ondisk" not in models.SESSIONS
    assert len(models.SESSIONS) == 0


def test_get_session_returns_the_canonical_object(session_dir: Path) -> None:
    Session(session_id="canon", messages=[_user("a")]).save()
    first = models.get_session("canon")
    assert models.get_session("canon") is first
    assert models.SESSIONS["canon"] is first
    with pytest.raises(SessionNotFoundError) as err:
        models.get_session("missing")
    assert isinstance(err.value, KeyError)
    assert "missing" in str(err.value)


def test_new_session_is_saved_indexed_and_cached(session_dir: Path) -> None:
    s = models.new_session(title="T", notebook="nb.ipynb", model="m")
    assert s.path.exists()
    assert models.SESSIONS[s.session_id] is s
    rows = models.list_sessions("nb.ipynb")
    assert [r.id for r in rows] == [s.session_id]
    assert rows[0].title == "T" and rows[0].model == "m" and rows[0].message_count == 0


def test_skip_index_never_creates_or_touches_the_index(session_dir: Path) -> None:
    s = Session(session_id="cp", messages=[_user("x")])
    for _ in range(3):
        s.save(skip_index=True)
    assert not (session_dir / "_index.json").exists()
    assert not (session_dir / "_index.json.lock").exists()
    s.save()
    before = (session_dir / "_index.json").read_bytes()
    mtime = (session_dir / "_index.json").stat().st_mtime_ns
    s.messages.append(_assistant("y"))
    s.save(skip_index=True)
    assert (session_dir / "_index.json").read_bytes() == before
    assert (session_dir / "_index.json").stat().st_mtime_ns == mtime


def test_list_sessions_newest_first_and_filtered(session_dir: Path) -> None:
    a = Session(session_id="a", notebook="one.ipynb", updated_at=1.0)
    b = Session(session_id="b", notebook="two.ipynb", updated_at=2.0)
    c = Session(session_id="c", notebook="one.ipynb", updated_at=3.0)
    for s in (a, b, c):
        s.save(touch_updated_at=False)
    assert [r.id for r in models.list_sessions()] == ["c", "b", "a"]
    assert [r.id for r in models.list_sessions("one.ipynb")] == ["c", "a"]
    assert [r.id for r in models.list_sessions("one.ipynb", include_all=True)] == ["c", "b", "a"]
    assert models.latest_session_id("one.ipynb") == "c"
    assert models.latest_session_id("two.ipynb") == "b"
    assert models.latest_session_id("three.ipynb") is None
    a.save()  # now the newest
    assert models.latest_session_id("one.ipynb") == "a"


def test_newer_schema_is_read_only(session_dir: Path) -> None:
    data = Session(session_id="new", messages=[_user("x")]).to_dict()
    data["schema_version"] = models.SCHEMA_VERSION + 1
    raw = json.dumps(data)
    (session_dir / "new.json").write_text(raw)
    models.consume_warnings()
    s = Session.load("new")
    assert s is not None and s.read_only
    notices = models.consume_warnings()
    assert len(notices) == 1 and "new" in notices[0] and "read-only" in notices[0]
    assert models.consume_warnings() == []
    with pytest.raises(ReadOnlySessionError):
        s.save()
    assert (session_dir / "new.json").read_text() == raw


def test_set_session_dir_creates_private_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(models, "SESSION_DIR", models.SESSION_DIR)
    monkeypatch.setattr(models, "SESSION_INDEX_FILE", models.SESSION_INDEX_FILE)
    folder = tmp_path / "nb" / ".hermes_nb" / "sessions"
    assert models.set_session_dir(folder) == folder
    assert models.SESSION_DIR == folder
    assert models.SESSION_INDEX_FILE == folder / "_index.json"
    assert folder.stat().st_mode & 0o777 == 0o700
    assert folder.parent.stat().st_mode & 0o777 == 0o700


# --------------------------------------------------------------------------- cache


def _s(sid: str, **kw: object) -> Session:
    return Session(session_id=sid, **kw)  # type: ignore[arg-type]


def test_cache_is_lru_bounded() -> None:
    cache = SessionCache(maxsize=3)
    for sid in "abc":
        cache[sid] = _s(sid)
    assert cache.get("a") is not None  # a is now most recent
    cache["d"] = _s("d")
    assert list(cache) == ["c", "a", "d"]
    assert "b" not in cache
    cache.clear()
    assert len(cache) == 0


def test_cache_never_evicts_active_or_pending_sessions() -> None:
    cache = SessionCache(maxsize=2)
    cache["run"] = _s("run", active_stream_id="s1")
    cache["wait"] = _s("wait", pending_user_message="hello")
    cache["x"] = _s("x")
    cache["y"] = _s("y")
    assert "run" in cache and "wait" in cache
    assert "x" not in cache and "y" in cache
    assert len(cache) == 3  # grows past maxsize rather than drop a live run
    cache["run"].active_stream_id = None
    cache["z"] = _s("z")
    assert "run" not in cache and "wait" in cache


def test_module_cache_behaves_like_a_dict(session_dir: Path) -> None:
    s = _s("d1")
    models.SESSIONS["d1"] = s
    assert models.SESSIONS.get("d1") is s
    assert models.SESSIONS.get("nope") is None
    assert models.SESSIONS.pop("d1") is s
    models.SESSIONS.clear()


def test_a_checkpoint_of_a_long_session_costs_the_change(session_dir: Path) -> None:
    """A run's saves record the messages they add, not a copy of every message the
    session holds (what ``save`` later compares against): memory, like the bytes
    written, stays proportional to the turn."""
    import tracemalloc

    from hermes_nb import streaming

    session = models.new_session(title="long")
    session.messages = [_user(f"m{i}") if i % 2 == 0 else _assistant(f"a{i}") for i in range(50_000)]
    session.save()
    run = streaming.Run(session.session_id, "question", checkpoint_interval=3600)
    run.start(checkpoints=False)
    try:
        run.turn.append_text("partial answer")
        tracemalloc.start()
        assert run.checkpoint()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    finally:
        run.abandon()
    assert peak < 100_000, peak  # a copy of the 50,000 references alone is 400 kB
    again = Session.load(session.session_id)
    assert again is not None and len(again.messages) == 50_000
    assert again.pending_partial_text == "partial answer"


def test_seen_messages_share_the_previous_base_and_stay_exact() -> None:
    from hermes_nb.store.merge import Seen

    msgs = [{"n": i} for i in range(10)]
    seen = Seen.of(msgs)
    for k in range(40):  # more appends than chunks kept: flattened on the way
        msgs.append({"n": 10 + k})
        seen = Seen.of(msgs, seen)
        assert len(seen) == len(msgs) and all(a is b for a, b in zip(seen, msgs, strict=True))
        assert seen[-1] is msgs[-1] and seen[0] is msgs[0] and seen[len(msgs) // 2] is msgs[len(msgs) // 2]
    with pytest.raises(IndexError):
        seen[len(msgs)]
    rewritten = [dict(m) for m in msgs]  # not the same objects: nothing is shared
    fresh = Seen.of(rewritten, seen)
    assert all(a is b for a, b in zip(fresh, rewritten, strict=True))
    assert list(Seen.of(msgs[:3], seen)) == msgs[:3]  # shorter: copied anew
