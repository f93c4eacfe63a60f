"""The magic stays usable when the sessions folder is odd: one line, never a traceback."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from notebook_shell import (
    NOTEBOOK,
    MakeNotebook,
    Notebook,
)

from hermes_nb import models
from hermes_nb.models import Session


def test_load_ext_survives_odd_sessions_and_restores_the_good_one(make_notebook: MakeNotebook, session_dir: Path) -> None:
    now = time.time()

    def pending(sid: str, **fields: object) -> dict[str, object]:
        return {"session_id": sid, "title": sid, "notebook": NOTEBOOK, "messages": [], "updated_at": now,
                "active_stream_id": "dead0000", "pending_user_message": "hello", **fields}

    (session_dir / "good.json").write_text(json.dumps(pending("good")))
    (session_dir / "newer.json").write_text(json.dumps(pending("newer", schema_version=99)))
    (session_dir / "typed.json").write_text(json.dumps(pending("typed", pending_attachments=3)))
    os.mkfifo(session_dir / "fifo.json")
    rows = [{"session_id": sid, "notebook": NOTEBOOK, "pending": True, "updated_at": now}
            for sid in ("good", "newer", "typed", "gone", "fifo")] + [{"session_id": 7, "pending": True}]
    (session_dir / "_index.json").write_text(json.dumps(rows))
    models.SESSIONS.clear()

    nb = make_notebook(load=False)
    for _ in range(2):  # on every load, not only the first
        cell = nb.run("%load_ext hermes_nb")
        cell.ok()
        assert "Traceback" not in cell.err + cell.out
        nb.run("%unload_ext hermes_nb")
    assert json.loads((session_dir / "good.json").read_text())["active_stream_id"] is None
    assert json.loads((session_dir / "typed.json").read_text())["active_stream_id"] is None
    nb.run("%load_ext hermes_nb").ok()
    listing = nb.run("%agent sessions").ok().out
    assert "good" in listing and "gone" not in listing


def test_a_session_dir_that_cannot_be_used_is_refused_in_one_line(nb: Notebook, tmp_path: Path) -> None:
    blocker = tmp_path / "plain-file"
    blocker.write_text("x")
    before = models.SESSION_DIR
    cell = nb.run(f'%config AgentMagics.session_dir = "{blocker}"')
    cell.ok()
    assert "session_dir not changed" in cell.err and "Traceback" not in cell.err
    assert models.SESSION_DIR == before and not nb.magics.session_dir
    nb.use_script("Still here.")
    nb.run("%%agent\nare you there?").ok()
    assert nb.on_disk()["messages"][-1]["content"] == "Still here."


def test_a_notebook_folder_without_room_for_sessions_says_where_to_point(make_notebook: MakeNotebook, session_dir: Path, tmp_path: Path) -> None:
    # the notebook's folder has a *file* where the sessions folder belongs
    hidden = tmp_path / ".hermes_nb"
    for p in sorted(hidden.rglob("*"), reverse=True):
        p.rmdir() if p.is_dir() else p.unlink()
    hidden.rmdir()
    hidden.write_text("in the way")
    nb = make_notebook(load=False)
    cell = nb.run("%load_ext hermes_nb")
    cell.ok()
    assert "AgentMagics.session_dir" in cell.err and "Traceback" not in cell.err
    nb.use_script("never saved")
    message = nb.run("%%agent\nhello").usage_error()
    assert "AgentMagics.session_dir" in message
    assert hidden.read_text() == "in the way"
    elsewhere = tmp_path / "elsewhere"
    nb.run(f'%config AgentMagics.session_dir = "{elsewhere}"').ok()
    nb.use_script("saved now")
    nb.run("%%agent\nhello").ok()
    assert nb.on_disk()["messages"][-1]["content"] == "saved now"


def test_use_reloads_a_session_another_kernel_changed(nb: Notebook) -> None:
    nb.use_script("first answer", "(B answers itself)", "third answer")  # one reply per user message
    nb.run("%%agent\nfirst").ok()
    sid = nb.current
    other = Session.load(sid)  # another kernel's copy
    assert other is not None
    other.messages += [{"role": "user", "content": "from B"}, {"role": "assistant", "content": "B's answer"}]
    other.save()
    out = nb.run(f"%agent use {sid}").ok().out
    assert "(4 messages)" in out
    nb.run("%%agent\nthird").ok()
    contents = [m["content"] for m in nb.on_disk(sid)["messages"]]
    assert contents == ["first", "first answer", "from B", "B's answer", "third", "third answer"]
