"""The server extension's logic without a server: listing, one session, one run, the
interrupted runs, export and delete, and every way a request could leave the root."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dead_run import leave_dead_run, leave_run_killed_before_its_row, run_lock_held_elsewhere

from hermes_nb import config, models, streaming
from hermes_nb.serverext import api
from hermes_nb.serverext.places import ApiError, locate
from hermes_nb.store import journal
from hermes_nb.store.liveness import held_locks

NOTEBOOK = "work/analysis.ipynb"


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A server root holding ``work/analysis.ipynb``; the store points at its sessions."""
    folder = tmp_path / "work" / ".hermes_nb" / "sessions"
    (tmp_path / "work").mkdir()
    (tmp_path / NOTEBOOK).write_text("{}")
    models.set_session_dir(folder)
    monkeypatch.setattr(models, "SESSION_DIR", folder)
    monkeypatch.setattr(models, "SESSION_INDEX_FILE", folder / "_index.json")
    models.SESSIONS.clear()
    yield tmp_path
    models.SESSIONS.clear()


def finished_session(title: str, notebook: str = "analysis.ipynb", run_id: str = "run0001") -> str:
    """A session with one answered turn whose request records ``run_id``."""
    session = models.new_session(title=title, notebook=notebook, model="replay:x")
    session.messages = [
        {"role": "user", "content": "Compute 6*7", "at": time.time(), "run_id": run_id},
        {"role": "assistant", "content": "Let me compute.", "tool_calls": [
            {"id": "c1", "type": "function",
             "function": {"name": "python", "arguments": json.dumps({"code": "x = 6 * 7\nprint(x)"})}},
        ]},
        {"role": "tool", "tool_call_id": "c1", "content": "42"},
        {"role": "assistant", "content": "The answer is **42**."},
    ]  # fmt: skip
    session.save()
    return session.session_id


def statuses(root: Path, **kw: Any) -> dict[str, str]:
    return {s["session_id"]: s["status"] for s in api.list_sessions(root, NOTEBOOK, **kw)["sessions"]}


# -- listing ------------------------------------------------------------------------


def test_list_shows_this_notebooks_sessions_newest_first(root: Path) -> None:
    older = finished_session("Older")
    newer = finished_session("Newer")
    other = finished_session("Elsewhere", notebook="other.ipynb")
    answer = api.list_sessions(root, NOTEBOOK)
    assert answer["notebook"] == NOTEBOOK
    assert answer["session_dir"] == "work/.hermes_nb/sessions"
    rows = answer["sessions"]
    assert [r["session_id"] for r in rows] == [newer, older]
    assert rows[0] == {
        **rows[0], "title": "Newer", "notebook": "analysis.ipynb", "model": "replay:x",
        "message_count": 4, "status": "ok",
    }  # fmt: skip
    assert set(rows[0]) == {
        "session_id", "title", "notebook", "model", "created_at", "updated_at",
        "message_count", "status",
    }  # fmt: skip
    everything = api.list_sessions(root, NOTEBOOK, all_=True)["sessions"]
    assert {r["session_id"] for r in everything} == {older, newer, other}


def test_status_running_interrupted_and_ok(root: Path) -> None:
    ok = finished_session("Answered")
    dead = models.new_session(title="Dead", notebook="analysis.ipynb").session_id
    leave_dead_run(dead)
    live = models.new_session(title="Live", notebook="analysis.ipynb").session_id
    leave_dead_run(live)
    restored = models.new_session(title="Restored", notebook="analysis.ipynb").session_id
    leave_dead_run(restored)
    assert streaming.restore_session(restored) is not None
    with run_lock_held_elsewhere(models.SESSION_DIR / f"{live}.run.lock"):
        assert statuses(root) == {ok: "ok", dead: "interrupted", live: "running", restored: "interrupted"}
    assert statuses(root)[live] == "interrupted"  # its kernel is gone now


def test_a_resumed_run_is_no_longer_interrupted(root: Path) -> None:
    sid = models.new_session(title="Restored", notebook="analysis.ipynb").session_id
    leave_dead_run(sid)
    streaming.restore_session(sid)
    assert statuses(root)[sid] == "interrupted"
    with config._get_session_agent_lock(sid):
        session = models.get_session(sid)
        session.messages.append({"role": "assistant", "content": "Done now.", "run_id": "resume1"})
        session.save()
    assert statuses(root)[sid] == "ok"


def test_listing_reads_only_the_index(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = [finished_session(f"S{n}") for n in range(5)]
    api.list_sessions(root, NOTEBOOK)  # fills the cache
    opened: list[str] = []
    real_open = os.open

    def counting_open(path: Any, *args: Any, **kw: Any) -> int:
        opened.append(str(path))
        return real_open(path, *args, **kw)

    monkeypatch.setattr(os, "open", counting_open)
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail(f"read {self}"))
    assert len(api.list_sessions(root, NOTEBOOK)["sessions"]) == len(ids)
    assert opened == []


def test_the_cached_listing_follows_changes_to_the_index(root: Path) -> None:
    first = finished_session("First")
    assert list(statuses(root)) == [first]
    second = finished_session("Second")
    assert list(statuses(root)) == [second, first]


def test_a_missing_index_is_rebuilt_from_the_files(root: Path) -> None:
    sid = finished_session("Only")
    models.SESSION_INDEX_FILE.unlink()
    assert list(statuses(root)) == [sid]


def test_no_sessions_folder_lists_nothing(root: Path) -> None:
    (root / "empty").mkdir()
    answer = api.list_sessions(root, "empty/new.ipynb")
    assert answer["sessions"] == [] and answer["session_dir"] == "empty/.hermes_nb/sessions"


# -- one session, one run -------------------------------------------------------------


def test_a_session_as_html_and_markdown(root: Path) -> None:
    sid = finished_session("Sales <b>")
    answer = api.get_session(root, NOTEBOOK, sid)
    assert answer["session"] == {**answer["session"], "session_id": sid, "title": "Sales <b>", "status": "ok"}
    html = answer["html"]
    assert "Sales &lt;b&gt;" in html and "<b>Sales <b>" not in html
    assert "<strong>42</strong>" in html
    assert '<pre class="hermes-nb-code"' in html and "print" in html  # the code, highlighted
    assert "<h1" not in html and "<h2" not in html
    assert "```python\nx = 6 * 7\nprint(x)\n```" in answer["markdown"]


def test_a_finished_run_by_its_id(root: Path) -> None:
    sid = finished_session("Done", run_id="abc123")
    run = api.get_run(root, NOTEBOOK, sid, "abc123")
    assert run["state"] == "done"
    assert run["summary"] == {"tool_calls": 1, "text_chars": len("Let me compute.The answer is **42**.")}
    assert "Compute 6*7" in run["html"] and "<strong>42</strong>" in run["html"]
    assert run["updated_at"] == pytest.approx(models.SESSION_DIR.joinpath(f"{sid}.json").stat().st_mtime)
    assert api.get_run(root, NOTEBOOK, sid, "nosuchrun")["state"] == "unknown"


def test_a_dead_run_before_and_after_restore_and_resume(root: Path) -> None:
    sid = models.new_session(title="Dead", notebook="analysis.ipynb").session_id
    leave_dead_run(sid, partial="Half an answer")
    run_id = "deadbeef00000000"
    pending = api.get_run(root, NOTEBOOK, sid, run_id)
    assert pending["state"] == "pending"
    assert "analyse the data" in pending["html"] and "Half an answer" in pending["html"]
    assert pending["summary"] == {"tool_calls": 2, "text_chars": len("Half an answer")}
    with run_lock_held_elsewhere(models.SESSION_DIR / f"{sid}.run.lock"):
        assert api.get_run(root, NOTEBOOK, sid, run_id)["state"] == "live"

    streaming.restore_session(sid)
    restored = api.get_run(root, NOTEBOOK, sid, run_id)
    assert restored["state"] == "interrupted"
    assert "interrupted" in restored["html"] and "Half an answer" in restored["html"]

    with config._get_session_agent_lock(sid):  # what a resumed run writes back
        session = models.get_session(sid)
        session.messages.append({"role": "assistant", "content": "All done.", "run_id": "resumed01"})
        session.save()
    final = api.get_run(root, NOTEBOOK, sid, run_id)
    assert final["state"] == "done" and "All done." in final["html"]


def test_a_live_runs_checkpoints_come_from_its_turn_journal(root: Path) -> None:
    """Checkpoints of a run go to ``<id>.turn`` beside the session file: the run view
    shows them, and ignores a journal of another run."""
    sid = models.new_session(title="Busy", notebook="analysis.ipynb").session_id
    run = streaming.Run(sid, "count the rows", checkpoint_interval=3600)
    run.start()
    try:
        run.turn.add_message({"role": "assistant", "content": "Counting in the kernel.", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "python", "arguments": "{}"}}]})
        run.turn.add_message({"role": "tool", "tool_call_id": "c1", "content": "1234"})
        run.turn.append_text("There are")
        assert run.checkpoint()
        view = api.get_run(root, NOTEBOOK, sid, run.stream_id)
        assert "Counting in the kernel." in view["html"] and "There are" in view["html"]
        assert view["state"] == "live" and view["summary"]["tool_calls"] == 1
        assert run.checkpoint() is False  # nothing new
        run.turn.append_text(" 1234 rows.")
        assert run.checkpoint()
    finally:
        run.abandon()  # as a killed kernel: the run stays pending, its lock is free
    [dead] = api.interrupted_runs(root, NOTEBOOK)["runs"]
    assert (dead["run_id"], dead["tool_calls"], dead["request"]) == (run.stream_id, 1, "count the rows")
    assert "1234 rows." in api.get_run(root, NOTEBOOK, sid, run.stream_id)["html"]


def test_finished_turns_in_the_journal_are_shown_and_a_stale_journal_is_not(root: Path) -> None:
    """A run's finished turn is appended to ``<id>.turn``; a journal naming another
    version of the session file (left by a crash after a rewrite) is ignored."""
    session = models.new_session(title="Appended", notebook="analysis.ipynb")
    session.messages = [{"role": "user", "content": "first question"}, {"role": "assistant", "content": "first answer"}]
    session.save()
    session.messages = [*session.messages, {"role": "user", "content": "second question"},
                        {"role": "assistant", "content": "appended answer"}]
    session.save_changes()
    turn = journal.path_for(models.SESSION_DIR, session.session_id)
    assert b"appended answer" in turn.read_bytes()
    shown = api.get_session(root, NOTEBOOK, session.session_id)
    assert "appended answer" in shown["html"] and "appended answer" in shown["markdown"]
    exported = api.export_session(root, NOTEBOOK, session.session_id, "json")
    whole = json.loads(exported[2])
    assert [m["content"] for m in whole["messages"]][-1] == "appended answer"
    assert "journal_base" not in whole
    turn.write_bytes(b'{"journal": 1, "base": "another-version"}\n'
                     + journal.line({"add": [{"role": "assistant", "content": "stale text"}]}))
    shown = api.get_session(root, NOTEBOOK, session.session_id)
    assert "stale text" not in shown["html"] and "appended answer" not in shown["html"]
    assert "first answer" in shown["html"]


def test_interrupted_runs_of_this_notebook(root: Path) -> None:
    finished_session("Answered")
    dead = models.new_session(title="Dead", notebook="analysis.ipynb").session_id
    leave_dead_run(dead, partial="So far")
    restored = models.new_session(title="Restored", notebook="analysis.ipynb").session_id
    leave_dead_run(restored)
    streaming.restore_session(restored)
    live = models.new_session(title="Live", notebook="analysis.ipynb").session_id
    leave_dead_run(live)
    elsewhere = models.new_session(title="Other", notebook="other.ipynb").session_id
    leave_dead_run(elsewhere)
    with run_lock_held_elsewhere(models.SESSION_DIR / f"{live}.run.lock"):
        runs = {r["session_id"]: r for r in api.interrupted_runs(root, NOTEBOOK)["runs"]}
    assert set(runs) == {dead, restored}
    assert runs[dead] == {
        "session_id": dead, "run_id": "deadbeef00000000", "title": "Dead",
        "started_at": runs[dead]["started_at"], "request": "analyse the data",
        "tool_calls": 2, "text_chars": len("So far"),
    }  # fmt: skip
    assert runs[restored]["run_id"] == "deadbeef00000000" and runs[restored]["tool_calls"] == 2


def test_a_run_killed_before_its_row_said_pending_is_listed(root: Path) -> None:
    sid = models.new_session(title="Quick death", notebook="analysis.ipynb").session_id
    leave_run_killed_before_its_row(models.SESSION_DIR, sid)
    [dead] = api.interrupted_runs(root, NOTEBOOK)["runs"]
    assert (dead["session_id"], dead["request"]) == (sid, "analyse the data")


# -- export and delete ------------------------------------------------------------------


def test_export_as_markdown_and_json(root: Path) -> None:
    sid = finished_session("Export me")
    name, ctype, body = api.export_session(root, NOTEBOOK, sid, "md")
    assert name == f"{sid}.md" and ctype.startswith("text/markdown")
    assert body.startswith(b"# Export me\n") and b"The answer is **42**." in body
    name, ctype, body = api.export_session(root, NOTEBOOK, sid, "json")
    assert name == f"{sid}.json" and json.loads(body)["session_id"] == sid
    with pytest.raises(ApiError) as err:
        api.export_session(root, NOTEBOOK, sid, "exe")
    assert err.value.status == 400


def test_delete_moves_to_the_trash_and_drops_the_row(root: Path) -> None:
    keep = finished_session("Keep")
    gone = finished_session("Gone")
    answer = api.delete_session(root, NOTEBOOK, gone)
    assert answer["trash"].startswith("work/.hermes_nb/sessions/.trash/")
    assert (root / answer["trash"]).exists()
    assert not (models.SESSION_DIR / f"{gone}.json").exists()
    assert list(statuses(root)) == [keep]
    with pytest.raises(ApiError) as err:
        api.delete_session(root, NOTEBOOK, gone)
    assert err.value.status == 404


def test_delete_is_refused_while_the_session_runs(root: Path) -> None:
    sid = models.new_session(title="Live", notebook="analysis.ipynb").session_id
    leave_dead_run(sid)
    with run_lock_held_elsewhere(models.SESSION_DIR / f"{sid}.run.lock"), pytest.raises(ApiError) as err:
        api.delete_session(root, NOTEBOOK, sid)
    assert err.value.status == 409
    assert (models.SESSION_DIR / f"{sid}.json").exists()


# -- staying inside the root ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("notebook", "status"),
    [
        ("../outside.ipynb", 403),
        ("work/../../outside.ipynb", 403),
        ("/etc/passwd", 403),
        ("", 400),
        (None, 400),
        ("a\x00b.ipynb", 400),
    ],
)
def test_paths_leaving_the_root_are_refused(root: Path, notebook: Any, status: int) -> None:
    with pytest.raises(ApiError) as err:
        api.list_sessions(root, notebook)
    assert err.value.status == status


def test_a_symlinked_folder_leading_out_is_refused(root: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    outside = tmp_path_factory.mktemp("outside")
    (outside / ".hermes_nb" / "sessions").mkdir(parents=True)
    (root / "link").symlink_to(outside, target_is_directory=True)
    with pytest.raises(ApiError) as err:
        locate(root, "link/x.ipynb")
    assert err.value.status == 403
    (root / "work2").mkdir()
    (root / "work2" / ".hermes_nb").symlink_to(outside / ".hermes_nb", target_is_directory=True)
    with pytest.raises(ApiError) as err:
        api.list_sessions(root, "work2/x.ipynb")
    assert err.value.status == 403


def test_a_symlinked_session_file_leading_out_is_refused(root: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    secret = tmp_path_factory.mktemp("secret") / "x.json"
    secret.write_text(json.dumps({"session_id": "leak", "messages": [], "title": "secret"}))
    (models.SESSION_DIR / "leak.json").symlink_to(secret)
    for call in (
        lambda: api.get_session(root, NOTEBOOK, "leak"),
        lambda: api.get_run(root, NOTEBOOK, "leak", "r"),
        lambda: api.export_session(root, NOTEBOOK, "leak", "json"),
        lambda: api.delete_session(root, NOTEBOOK, "leak"),
    ):
        with pytest.raises(ApiError) as err:
            call()
        assert err.value.status == 403
    assert secret.exists()


def test_bad_ids_and_odd_files(root: Path) -> None:
    with pytest.raises(ApiError) as err:
        api.get_session(root, NOTEBOOK, "../../x")
    assert err.value.status == 400
    os.mkfifo(models.SESSION_DIR / "fifo.json")  # must not hang
    with pytest.raises(ApiError) as err:
        api.get_session(root, NOTEBOOK, "fifo")
    assert err.value.status == 404


def test_proc_locks_sees_a_lock_held_by_another_process(tmp_path: Path) -> None:
    lock_file = tmp_path / "s.run.lock"
    lock_file.touch()
    with run_lock_held_elsewhere(lock_file):
        assert held_locks().run_is_live(lock_file, None)
    assert not held_locks().run_is_live(lock_file, None)


def test_the_listing_text_is_kept_only_while_no_run_is_pending(root: Path) -> None:
    first = finished_session("First")
    body = api.list_sessions_body(root, NOTEBOOK)
    assert json.loads(body) == api.list_sessions(root, NOTEBOOK)
    assert api.list_sessions_body(root, NOTEBOOK) is body  # unchanged index: the same text
    live = models.new_session(title="Live", notebook="analysis.ipynb").session_id
    leave_dead_run(live)
    with run_lock_held_elsewhere(models.SESSION_DIR / f"{live}.run.lock"):
        running = json.loads(api.list_sessions_body(root, NOTEBOOK))["sessions"]
    assert {s["session_id"]: s["status"] for s in running} == {live: "running", first: "ok"}
    after = json.loads(api.list_sessions_body(root, NOTEBOOK))["sessions"]  # same index file
    assert {s["session_id"]: s["status"] for s in after} == {live: "interrupted", first: "ok"}


def test_serving_imports_nothing_kernel_side(root: Path) -> None:
    """The server process must not pay for (or break on) widgets, IPython or SDKs."""
    import subprocess
    import sys

    sid = finished_session("Imports")
    code = (
        "import json, sys\n"
        "from hermes_nb.serverext import api, handlers\n"
        f"root, nb, sid = {str(root)!r}, {NOTEBOOK!r}, {sid!r}\n"
        "api.list_sessions_body(root, nb); api.get_session(root, nb, sid)\n"
        "api.get_run(root, nb, sid, 'run0001'); api.interrupted_runs(root, nb)\n"
        "api.export_session(root, nb, sid, 'md')\n"
        "heavy = ('IPython', 'ipykernel', 'ipywidgets', 'openai', 'anthropic', 'llama_cpp', 'comm')\n"
        "print(json.dumps(sorted(m for m in heavy if m in sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_exports_written_a_turn_at_a_time_match_the_whole_renderings(root: Path) -> None:
    from hermes_nb.ui.transcript import history_markdown

    sid = finished_session("Three turns")
    session = models.get_session(sid)
    with config._get_session_agent_lock(sid):
        session.messages = session.messages * 3
        session.save()
    data = json.loads((models.SESSION_DIR / f"{sid}.json").read_text())
    data.pop(journal.TOKEN_KEY, None)  # an export is whole: no journal may extend it
    _, _, md = api.export_session(root, NOTEBOOK, sid, "md")
    assert md.decode() == history_markdown(data["messages"], title="Three turns")
    assert b"## 3. User" in md
    _, _, body = api.export_session(root, NOTEBOOK, sid, "json")
    assert body.decode() == json.dumps(data, indent=1, ensure_ascii=False)


def test_a_transcript_is_served_a_page_at_a_time(root: Path) -> None:
    session = models.new_session(title="Long", notebook="analysis.ipynb", model="replay:x")
    session.messages = [
        m for n in range(1000)
        for m in ({"role": "user", "content": f"question {n}"}, {"role": "assistant", "content": f"answer {n}"})
    ]  # fmt: skip
    session.save()
    latest = api.get_session(root, NOTEBOOK, session.session_id)
    assert latest["page"] == {"offset": 2000 - api.PAGE, "count": api.PAGE, "total": 2000}
    assert "answer 999" in latest["html"] and "question 0<" not in latest["html"]
    assert f"Messages {2000 - api.PAGE + 1}-2000 of 2000" in latest["html"]
    first = api.get_session(root, NOTEBOOK, session.session_id, offset=0, limit=4)
    assert first["page"] == {"offset": 0, "count": 4, "total": 2000}
    assert "question 1" in first["markdown"] and "question 2" not in first["markdown"]


def test_serving_imports_no_kernel_code(root: Path) -> None:
    """The server extension stands on the store and the renderers: none of its routes
    loads the kernel's package or the compatibility modules over it."""
    import subprocess
    import sys

    sid = finished_session("Layers")
    gone = finished_session("Deleted")
    code = (
        "import json, sys\n"
        "from hermes_nb.serverext import api, find_run, handlers, link_handlers\n"
        f"root, nb, sid, gone = {str(root)!r}, {NOTEBOOK!r}, {sid!r}, {gone!r}\n"
        "api.list_sessions_body(root, nb); api.get_session(root, nb, sid)\n"
        "api.get_run(root, nb, sid, 'run0001'); api.interrupted_runs(root, nb)\n"
        "api.export_session(root, nb, sid, 'md'); api.delete_session(root, nb, gone)\n"
        "find_run.find_run(root, nb, 'Compute 6*7')\n"
        "above = ('hermes_nb.kernel', 'hermes_nb.models', 'hermes_nb.config', 'hermes_nb.session_ops',\n"
        "         'hermes_nb.streaming')\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(above))))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
