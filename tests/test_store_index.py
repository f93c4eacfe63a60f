"""The ``_index.json`` index: upsert one row, rebuild when missing or corrupt."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from hermes_nb import models
from hermes_nb.models import Session
from hermes_nb.store import diskstate, index


def _index_ids(folder: Path) -> list[str]:
    return [r["session_id"] for r in json.loads((folder / "_index.json").read_text())]


def test_index_rows_are_compact_and_newest_first(session_dir: Path) -> None:
    Session(session_id="old", title="Old", updated_at=1.0, messages=[{"role": "user", "content": "x"}]).save(
        touch_updated_at=False
    )
    Session(session_id="new", title="New", notebook="n.ipynb", active_stream_id="r").save()
    rows = json.loads((session_dir / "_index.json").read_text())
    assert [r["session_id"] for r in rows] == ["new", "old"]
    assert set(rows[0]) == {
        "session_id", "title", "notebook", "model", "created_at", "updated_at", "message_count",
        "pending", "stopped", "index_version",
    }  # fmt: skip
    assert rows[0]["index_version"] == index.INDEX_VERSION
    assert rows[0]["pending"] is True
    assert rows[1]["stopped"] == "open"  # a request without an answer
    assert rows[1]["message_count"] == 1
    assert "messages" not in rows[0]


def test_upsert_reads_no_other_session_file(session_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(20):
        Session(session_id=f"s{i}").save()
    # Make every other session file unreadable as JSON: a scan would skip or choke on them.
    for i in range(1, 20):
        (session_dir / f"s{i}.json").write_bytes(b"not json")
    opened: list[str] = []
    real_read = diskstate.read_bounded

    def counting_read(path: Path, limit: int | None = None) -> tuple[bytes, object]:
        opened.append(Path(path).name)
        return real_read(path, limit)

    monkeypatch.setattr(diskstate, "read_bounded", counting_read)
    s0 = Session(session_id="s0", title="renamed")
    s0.save()
    assert [n for n in opened if n != "_index.json"] == []
    assert "_index.json" in opened  # the count sees reads
    assert sorted(_index_ids(session_dir)) == sorted(f"s{i}" for i in range(20))
    assert [r.title for r in models.list_sessions() if r.id == "s0"] == ["renamed"]
    assert not list(session_dir.glob("*.corrupt-*"))  # untouched


@pytest.mark.parametrize("damage", ["missing", "garbage", "wrong_shape", "bad_row"])
def test_index_is_rebuilt_from_the_files(session_dir: Path, damage: str) -> None:
    for i, nb in enumerate(["a.ipynb", "b.ipynb", "a.ipynb"]):
        Session(session_id=f"r{i}", notebook=nb, updated_at=float(i)).save(touch_updated_at=False)
    Session(session_id="cp_only").save(skip_index=True)  # found by a rebuild
    (session_dir / "junk.json").write_bytes(b"\xff")  # skipped by a rebuild
    idx = session_dir / "_index.json"
    if damage == "missing":
        idx.unlink()
    elif damage == "garbage":
        idx.write_bytes(b"{{{")
    elif damage == "wrong_shape":
        idx.write_text('{"rows": []}')
    else:
        idx.write_text(json.dumps({"version": 1, "sessions": [{"title": "no id"}]}))
    rows = models.list_sessions()
    assert [r.id for r in rows][-3:] == ["r2", "r1", "r0"]
    assert "cp_only" in [r.id for r in rows]
    assert [r.id for r in models.list_sessions("a.ipynb")] == ["r2", "r0"]
    assert sorted(_index_ids(session_dir)) == sorted(r.id for r in rows)  # written back


def test_save_with_corrupt_index_rebuilds_it(session_dir: Path) -> None:
    Session(session_id="one").save()
    (session_dir / "_index.json").write_text("nope")
    Session(session_id="two").save()
    assert sorted(_index_ids(session_dir)) == ["one", "two"]


def test_concurrent_upserts_lose_no_row(session_dir: Path) -> None:
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(10):
                Session(session_id=f"w{n}_{i}").save()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(models.list_sessions()) == 60


def test_list_sessions_on_empty_or_missing_folder(
    session_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert models.list_sessions() == []
    assert models.latest_session_id(None) is None
    monkeypatch.setattr(models, "SESSION_DIR", tmp_path / "absent")
    monkeypatch.setattr(models, "SESSION_INDEX_FILE", tmp_path / "absent" / "_index.json")
    assert models.list_sessions() == []
    assert not (tmp_path / "absent").exists()


def test_rows_saved_out_of_order_stay_sorted(session_dir: Path) -> None:
    for sid, t in [("m", 5.0), ("n", 7.0), ("o", 1.0), ("p", 6.0), ("n", 0.5), ("q", 9.0)]:
        Session(session_id=sid, updated_at=t).save(touch_updated_at=False)
    assert _index_ids(session_dir) == ["q", "p", "m", "o", "n"]
    assert [r.updated_at for r in models.list_sessions()] == [9.0, 6.0, 5.0, 1.0, 0.5]


def test_index_with_foreign_layout_is_still_upserted(session_dir: Path) -> None:
    Session(session_id="a", updated_at=1.0).save(touch_updated_at=False)
    idx = session_dir / "_index.json"
    data = json.loads(idx.read_text())
    idx.write_text(json.dumps(data, indent=2))  # valid JSON, not our one-row-per-line layout
    Session(session_id="b").save()
    Session(session_id="a").save()
    assert _index_ids(session_dir) == ["a", "b"]
    json.loads(idx.read_text())


def test_titles_with_newlines_and_quotes(session_dir: Path) -> None:
    tricky = 'line\n{"id":"x",\n]} "quoted" \u00e9'
    Session(session_id="x", title=tricky).save()
    Session(session_id="y", title="plain").save()
    Session(session_id="x", title=tricky + "!").save()
    rows = models.list_sessions()
    assert [(r.id, r.title) for r in rows] == [("x", tricky + "!"), ("y", "plain")]


@pytest.mark.parametrize(
    ("messages", "stopped"),
    [
        ([], None),
        ([{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}], None),
        ([{"role": "user", "content": "q"}, {"role": "marker", "kind": "interrupted"}], "interrupted"),
        ([{"role": "user", "content": "q"}, {"role": "tool", "tool_call_id": "c"},
          {"role": "marker", "kind": "cancelled"}], "cancelled"),
        ([{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"},
          {"role": "marker", "kind": "empty"}], None),
        ([{"role": "assistant", "content": "half", "partial": True},
          {"role": "marker", "kind": "error"}], "error"),
    ],
)  # fmt: skip
def test_the_index_row_says_how_an_open_turn_stopped(
    session_dir: Path, messages: list[dict[str, str]], stopped: str | None
) -> None:
    """The sessions list shows "interrupted" from the index alone, without the files."""
    Session(session_id="s", messages=messages).save()
    [row] = json.loads((session_dir / "_index.json").read_text())
    assert row["stopped"] == stopped
    assert index.IndexRow.from_session_dict({"session_id": "s", "messages": messages}).stopped == stopped
