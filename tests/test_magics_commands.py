"""Every ``%agent`` line command, in a real in-process IPython shell with the replay provider."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dead_run import leave_dead_run, run_lock_held_elsewhere
from notebook_shell import (
    NOTEBOOK,
    MakeNotebook,
    Notebook,
    requests_of,
    roles,
)

from hermes_nb import models
from hermes_nb.agent.providers.replay import ReplayProvider
from hermes_nb.kernel.commands import HELP

NO_SUCH_ID = "20990101_000000_deadbeef"


def two_exchanges(nb: Notebook) -> str:
    nb.use_script("Answer one.", "Answer two.", "Answer three.")
    nb.run("%%agent\nQuestion one").ok()
    nb.run("%%agent\nQuestion two").ok()
    return nb.current


# -- help ------------------------------------------------------------------------------------


def test_help_and_no_arguments_print_the_commands(nb: Notebook) -> None:
    for line in ("%agent help", "%agent", "%agent   "):
        out = nb.run(line).ok().out
        assert out.strip() == HELP.strip()
    for command in ("sessions", "new", "use", "history", "undo", "retry", "resume", "cancel",
                    "title", "delete", "fork", "export", "model", "status", "help"):
        assert f"%agent {command}" in HELP


def test_an_unknown_command_is_a_usage_message(nb: Notebook) -> None:
    message = nb.run("%agent frobnicate").usage_error()
    assert "frobnicate" in message and "\n" not in message
    assert "required" in nb.run("%agent use").usage_error()


# -- sessions / new / use --------------------------------------------------------------------


def test_sessions_lists_this_notebooks_sessions(nb: Notebook) -> None:
    assert "No sessions yet" in nb.run("%agent sessions").ok().out
    first = two_exchanges(nb)
    other = models.new_session(title="From another notebook", notebook="other.ipynb").session_id
    nb.run("%agent new Fresh start").ok()
    fresh = nb.current

    lines = nb.run("%agent sessions").ok().out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"* {fresh}") and "Fresh start" in lines[0] and "0 msgs" in lines[0]
    assert lines[1].startswith(f"  {first}") and "Question one" in lines[1] and "4 msgs" in lines[1]

    everything = nb.run("%agent sessions --all").ok().out
    assert other in everything and "From another notebook" in everything
    assert len(everything.splitlines()) == 3


def test_sessions_marks_a_pending_run(nb: Notebook) -> None:
    nb.run("%agent new").ok()
    leave_dead_run(nb.current)
    assert "[run pending]" in nb.run("%agent sessions").ok().out


def test_new_starts_a_session_the_next_cell_uses(nb: Notebook, replays: list[ReplayProvider]) -> None:
    first = two_exchanges(nb)
    out = nb.run("%agent new Budget   review").ok().out
    sid = nb.current
    assert sid != first and out.strip() == f"New session {sid}: Budget review"
    saved = nb.on_disk(sid)
    assert saved["title"] == "Budget review" and saved["manual_title"] is True
    assert saved["messages"] == [] and saved["notebook"] == NOTEBOOK

    nb.run("%%agent\nfresh question").ok()
    assert [m["content"] for m in replays[-1].requests[-1][1:]] == ["fresh question"]
    assert nb.on_disk(sid)["title"] == "Budget review"

    out = nb.run("%agent new").ok().out
    assert out.strip() == f"New session {nb.current}"
    assert nb.on_disk()["title"] == "New session" and nb.on_disk()["manual_title"] is False


def test_use_switches_the_current_session(nb: Notebook, replays: list[ReplayProvider]) -> None:
    first = two_exchanges(nb)
    nb.run("%agent new").ok()
    out = nb.run(f"%agent use {first}").ok().out
    assert out.strip() == f"Using session {first}: Question one (4 messages)"
    assert nb.current == first
    nb.run("%%agent\nQuestion three").ok()
    assert [m["content"] for m in replays[-1].requests[-1][1:]][-2:] == ["Answer two.", "Question three"]
    assert len(nb.on_disk(first)["messages"]) == 6


def test_use_reads_no_messages_until_a_run_needs_them(nb: Notebook, replays: list[ReplayProvider]) -> None:
    """Switching to a long session another kernel wrote costs its index row, not the
    file: the messages are read once, by the run that sends them."""
    nb.use_script("Answer one.", "Answer two.")
    nb.run("%%agent\nQuestion one").ok()
    other = models.Session(title="Long one", notebook=NOTEBOOK)
    other.messages = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"m{i}"} for i in range(1000)]
    other.save()  # another kernel's session: never loaded in this one
    models.SESSIONS.pop(other.session_id, None)
    out = nb.run(f"%agent use {other.session_id}").ok().out
    assert out.strip() == f"Using session {other.session_id}: Long one (1000 messages)"
    assert nb.current == other.session_id
    assert other.session_id not in models.SESSIONS
    nb.use_script(*[f"a{i}" for i in range(501)])
    nb.run("%%agent\nQuestion two").ok()
    sent = [m["content"] for m in replays[-1].requests[-1][1:]]
    assert sent[:2] == ["m0", "m1"] and sent[-1] == "Question two" and len(sent) == 1001
    assert len(nb.on_disk(other.session_id)["messages"]) == 1002


def test_use_of_an_unknown_or_malformed_id_is_a_clear_message(nb: Notebook) -> None:
    first = two_exchanges(nb)
    message = nb.run(f"%agent use {NO_SUCH_ID}").usage_error()
    assert f"No session matches '{NO_SUCH_ID}'" in message
    assert "No session matches '../../etc/passwd'" in nb.run("%agent use ../../etc/passwd").usage_error()
    assert nb.current == first


# -- history / undo / retry ------------------------------------------------------------------


def test_history_shows_the_conversation(nb: Notebook) -> None:
    assert "No session yet" in nb.run("%agent history").usage_error()
    nb.run("%agent new").ok()
    assert "no messages yet" in nb.run("%agent history").ok().out
    two_exchanges(nb)
    out = nb.run("%agent history").ok().out
    for text in ("Question one", "Answer one.", "Question two", "Answer two."):
        assert text in out
    assert out.index("Question one") < out.index("Answer one.") < out.index("Question two")


def test_undo_removes_the_last_exchange(nb: Notebook) -> None:
    two_exchanges(nb)
    out = nb.run("%agent undo").ok().out
    assert out.strip() == "Removed the last request and its reply (2 messages)."
    assert [m["content"] for m in nb.on_disk()["messages"]] == ["Question one", "Answer one."]
    nb.run("%agent undo").ok()
    assert nb.on_disk()["messages"] == []
    assert "Nothing to undo" in nb.run("%agent undo").usage_error()
    # the undone exchange is gone for good: the next request continues from nothing
    cell = nb.run("%%agent\nAgain").ok()
    assert "Answer one." in cell.out


def test_retry_sends_the_last_request_again(nb: Notebook, replays: list[ReplayProvider]) -> None:
    nb.use_script("A weak answer.")
    nb.run("%%agent\nExplain entropy").ok()
    nb.use_script("A better answer.")  # the replay script is read again for each run
    cell = nb.run("%agent retry").ok()
    assert "A better answer." in cell.out
    assert [m["content"] for m in nb.on_disk()["messages"]] == ["Explain entropy", "A better answer."]
    assert [m["content"] for m in replays[-1].requests[-1][1:]] == ["Explain entropy"]

    nb.run("%agent new").ok()
    assert "Nothing to retry" in nb.run("%agent retry").usage_error()


# -- resume / cancel -------------------------------------------------------------------------


def test_resume_after_a_crash_sends_the_recovered_tool_results(make_notebook: MakeNotebook, replays: list[ReplayProvider]) -> None:
    sid = models.new_session(title="Analysis", notebook=NOTEBOOK).session_id
    leave_dead_run(sid)
    models.SESSIONS.clear()  # a fresh kernel
    nb = make_notebook()
    nb.run('%config AgentMagics.display = "text"').ok()
    assert nb.current == sid
    nb.use_script("(never asked: the crash came after this reply)", "Both sums are done: 2 and 4.")

    cell = nb.run("%agent resume").ok()
    assert "Both sums are done" in cell.out
    sent = requests_of(replays)
    assert len(sent) == 1
    request = sent[0]
    assert not any(m["role"] == "marker" for m in request)
    assert [m.get("tool_call_id") for m in request if m["role"] == "tool"] == ["c1", "c2"]
    assert next(m for m in request if m["role"] == "tool")["content"] == "2"
    assert [m["content"] for m in request if m["role"] == "user"] == ["analyse the data"]
    assert request[-1]["role"] == "tool"  # no new user message was added

    msgs = nb.on_disk(sid)["messages"]
    assert msgs[-1] == {**msgs[-1], "role": "assistant", "content": "Both sums are done: 2 and 4."}
    assert [m["content"] for m in msgs if m["role"] == "user"] == ["analyse the data"]
    assert "Nothing to resume" in nb.run("%agent resume").usage_error()


def test_resume_with_nothing_to_resume(nb: Notebook) -> None:
    assert "No session yet" in nb.run("%agent resume").usage_error()
    two_exchanges(nb)
    assert "Nothing to resume" in nb.run("%agent resume").usage_error()


def test_resume_continues_a_failed_run(nb: Notebook) -> None:
    script = nb.use_script({"text": "", "error": "simulated outage"})
    nb.run("%%agent\nsummarise").ok()
    script.write_text(json.dumps({"replies": ["Here is the summary."]}))
    cell = nb.run("%agent resume").ok()
    assert "Here is the summary." in cell.out
    msgs = nb.on_disk()["messages"]
    assert roles(msgs) == ["user", "marker", "assistant"]
    assert msgs[1]["kind"] == "error"


def test_cancel_marks_a_run_left_by_a_dead_kernel_and_keeps_the_partial_text(nb: Notebook, replays: list[ReplayProvider]) -> None:
    # on resume the model sees the tool calls and the partial answer: reply 3 is next
    nb.use_script("unused", "unused", "The result is 2 and 4.")
    nb.run("%agent new").ok()
    leave_dead_run(nb.current, partial="So far: the first sum is")
    assert "run pending" in nb.run("%agent status").ok().out

    out = nb.run("%agent cancel").ok().out
    assert out.strip() == "Cancelled the pending run; its partial output was kept."
    saved = nb.on_disk()
    msgs = saved["messages"]
    assert saved["active_stream_id"] is None and saved["pending_user_message"] is None
    assert msgs[0]["role"] == "user" and msgs[0]["content"] == "analyse the data"
    results = {m["tool_call_id"]: m["content"] for m in msgs if m["role"] == "tool"}
    assert results["c1"] == "2" and "Cancelled" in results["c2"]
    assert any(m["role"] == "assistant" and m["content"] == "So far: the first sum is" for m in msgs)
    assert msgs[-1]["role"] == "marker" and msgs[-1]["kind"] == "cancelled"

    assert nb.run("%agent cancel").ok().out.strip() == "No run is pending in this session."
    assert "The result is 2 and 4." in nb.run("%agent resume").ok().out  # a cancelled run resumes
    sent = replays[-1].requests[-1]
    assert not any(m["role"] == "marker" for m in sent)
    assert [m.get("tool_call_id") for m in sent if m["role"] == "tool"] == ["c1", "c2"]
    assert sent[-1] == {"role": "assistant", "content": "So far: the first sum is"}


def test_cancel_with_no_session_or_no_run(nb: Notebook) -> None:
    assert "No session yet" in nb.run("%agent cancel").usage_error()
    two_exchanges(nb)
    before = nb.on_disk()
    assert nb.run("%agent cancel").ok().out.strip() == "No run is pending in this session."
    assert nb.on_disk()["messages"] == before["messages"]


def test_cancel_leaves_a_run_alive_in_another_kernel_alone(nb: Notebook) -> None:
    nb.run("%agent new").ok()
    sid = nb.current
    leave_dead_run(sid)
    with run_lock_held_elsewhere(nb.sessions_dir / f"{sid}.run.lock"):
        assert "still going in another kernel" in nb.run("%agent cancel").usage_error()
        nb.use_script("unused")
        assert "in progress in another kernel" in nb.run("%%agent\nme too").usage_error()
        assert nb.on_disk(sid)["active_stream_id"] == "deadbeef00000000"
        assert nb.on_disk(sid)["messages"] == []
    nb.run("%agent cancel").ok()
    assert nb.on_disk(sid)["active_stream_id"] is None


# -- title / delete / fork -------------------------------------------------------------------


def test_title_renames_the_current_session(nb: Notebook) -> None:
    assert "No session yet" in nb.run("%agent title Something").usage_error()
    two_exchanges(nb)
    out = nb.run("%agent title Entropy,  explained").ok().out
    assert out.strip() == "Renamed to: Entropy, explained"
    saved = nb.on_disk()
    assert saved["title"] == "Entropy, explained" and saved["manual_title"] is True
    assert "Entropy, explained" in nb.run("%agent sessions").ok().out
    assert "required" in nb.run("%agent title").usage_error()


def test_delete_moves_the_file_to_the_trash(nb: Notebook) -> None:
    first = two_exchanges(nb)
    content = nb.on_disk(first)  # the file with what runs appended to its journal
    nb.run("%agent new Keeper").ok()
    keeper = nb.current
    nb.run(f"%agent use {first}").ok()

    out = nb.run(f"%agent delete {first}").ok().out
    assert out.strip() == f"Moved session {first} to the trash folder."
    assert not (nb.sessions_dir / f"{first}.json").exists()
    trashed = list((nb.sessions_dir / ".trash").glob(f"{first}-*.json"))
    assert len(trashed) == 1
    whole = json.loads(trashed[0].read_bytes())  # the trashed file alone is the whole session
    assert whole == {k: v for k, v in content.items() if k != "journal_base"}
    assert len(whole["messages"]) == 4
    assert not (nb.sessions_dir / f"{first}.turn").exists()
    assert first not in nb.run("%agent sessions --all").ok().out
    assert nb.current == keeper  # the deleted session was current: the latest one takes over

    assert "No session" in nb.run(f"%agent delete {first}").usage_error()
    assert "No session" in nb.run(f"%agent delete {NO_SUCH_ID}").usage_error()


def test_fork_copies_the_first_turns_into_a_new_current_session(nb: Notebook, replays: list[ReplayProvider]) -> None:
    first = two_exchanges(nb)
    out = nb.run("%agent fork 1").ok().out
    forked = nb.current
    assert forked != first
    assert out.strip() == f"Forked into {forked} (1 turn); now current."
    saved = nb.on_disk(forked)
    assert [m["content"] for m in saved["messages"]] == ["Question one", "Answer one."]
    assert saved["parent_session_id"] == first and saved["title"] == "Question one (fork)"
    assert len(nb.on_disk(first)["messages"]) == 4  # the original is untouched

    nb.run("%%agent\nA different second question").ok()
    assert [m["content"] for m in replays[-1].requests[-1][1:]] == [
        "Question one", "Answer one.", "A different second question",
    ]
    assert len(nb.on_disk(first)["messages"]) == 4

    nb.run(f"%agent use {first}").ok()
    nb.run("%agent fork").ok()
    assert len(nb.on_disk()["messages"]) == 4 and nb.current not in (first, forked)
    assert "this session has 2" in nb.run("%agent fork 9").usage_error()
    assert "invalid int value" in nb.run("%agent fork two").usage_error()


# -- export ----------------------------------------------------------------------------------


def test_export_markdown_and_json(nb: Notebook, tmp_path: Path) -> None:
    sid = two_exchanges(nb)
    out = nb.run(f"%agent export --output {tmp_path / 'chat.md'}").ok().out
    assert out.strip() == f"Exported 4 messages to {tmp_path / 'chat.md'}"
    text = (tmp_path / "chat.md").read_text(encoding="utf-8")
    assert text.startswith("# Question one")
    for part in ("Question one", "Answer one.", "Question two", "Answer two."):
        assert part in text
    assert text.index("Answer one.") < text.index("Question two")

    nb.run("%agent export --format json -o exported.json").ok()
    exported = json.loads((tmp_path / "exported.json").read_text(encoding="utf-8"))
    on_disk = nb.on_disk(sid)
    assert exported["session_id"] == sid
    assert exported["messages"] == on_disk["messages"]

    nb.run("%agent export").ok()  # default name, in the working directory
    assert (tmp_path / f"{sid}.md").read_text(encoding="utf-8") == text


def test_export_of_another_session_by_id(nb: Notebook, tmp_path: Path) -> None:
    first = two_exchanges(nb)
    nb.run("%agent new Other").ok()
    other = nb.current
    nb.run(f"%agent export {first} --format json --output first.json").ok()
    assert json.loads((tmp_path / "first.json").read_text())["session_id"] == first
    assert nb.current == other  # exporting does not switch sessions

    assert "No session" in nb.run(f"%agent export {NO_SUCH_ID}").usage_error()
    assert "Could not write" in nb.run(f"%agent export --output {tmp_path / 'no' / 'dir' / 'x.md'}").usage_error()
    assert "invalid choice" in nb.run("%agent export --format pdf").usage_error()


def test_no_api_key_reaches_the_session_files_or_the_export(nb: Notebook, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-0123456789")
    two_exchanges(nb)
    nb.run("%agent export --format json --output out.json").ok()
    nb.run("%agent export --output out.md").ok()
    written = [p for p in nb.sessions_dir.rglob("*") if p.is_file()] + [tmp_path / "out.json", tmp_path / "out.md"]
    assert len(written) >= 4
    for path in written:
        assert b"sk-secret" not in path.read_bytes(), path


def test_no_api_key_is_stored_after_a_real_http_provider_run(nb: Notebook, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from sse_server import ScriptedServer, error_reply, text_reply

    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-0123456789")
    with ScriptedServer([text_reply("Hello ", "over HTTP."), error_reply(401, "bad key sk-secret-0123456789")]) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.url)
        nb.run('%config AgentMagics.model = "openai:test-model"').ok()
        nb.run("%config AgentMagics.auto_title = False").ok()  # no title request in between
        assert "Hello over HTTP." in nb.run("%%agent\nhello").ok().out
        assert "API key" in nb.run("%%agent\nagain").ok().out
        assert server.requests[0].headers["authorization"] == "Bearer sk-secret-0123456789"
    assert nb.on_disk()["messages"][-1]["kind"] == "error"
    nb.run("%agent export --format json --output out.json").ok()
    for path in [*nb.sessions_dir.rglob("*.json"), tmp_path / "out.json"]:
        assert b"sk-secret" not in path.read_bytes(), path


# -- model / status --------------------------------------------------------------------------


def test_model_shows_and_sets_the_model(nb: Notebook, tmp_path: Path) -> None:
    first = nb.use_script("From the first script.")
    assert nb.run("%agent model").ok().out.strip() == f"Model: replay:{first}"
    second = nb.script("From the second script.", name="second.json")
    assert nb.run(f"%agent model replay:{second}").ok().out.strip() == f"Model: replay:{second}"
    assert nb.magics.model == f"replay:{second}"
    assert "From the second script." in nb.run("%%agent\nhi").ok().out

    message = nb.run("%agent model nope:thing").usage_error()
    assert "Available" in message and "replay:" in message
    assert "not found" in nb.run(f"%agent model replay:{tmp_path / 'missing.json'}").usage_error()
    assert nb.magics.model == f"replay:{second}"  # a bad spec changes nothing


def test_status_reports_model_folder_session_and_tokens(nb: Notebook) -> None:
    script = nb.use_script("Answer.")
    out = nb.run("%agent status").ok().out
    assert f"Model:    replay:{script}" in out
    assert f"Notebook: {NOTEBOOK}" in out
    assert f"Folder:   {nb.sessions_dir}" in out
    assert "Session:  (none yet)" in out

    nb.run("%%agent\nCount the rows").ok()
    saved = nb.on_disk()
    out = nb.run("%agent status").ok().out
    assert f"Session:  {nb.current}  Count the rows  (2 messages, idle)" in out
    assert f"Tokens:   {saved['input_tokens']} in / {saved['output_tokens']} out" in out


def test_resume_in_a_fresh_kernel_goes_on_with_the_runs_model(make_notebook: MakeNotebook, monkeypatch: pytest.MonkeyPatch) -> None:
    """After a restart the notebook's %config is gone: the run's own model continues it."""
    monkeypatch.delenv("HERMES_NB_MODEL", raising=False)
    nb = make_notebook()
    script = nb.use_script({"text": "", "error": "simulated outage"})
    nb.run("%%agent\nsummarise").ok()
    sid = nb.current
    assert nb.on_disk(sid)["model"] == f"replay:{script}"
    script.write_text(json.dumps({"replies": ["Here is the summary."]}))
    models.SESSIONS.clear()
    fresh = make_notebook()  # a new kernel: no model configured
    fresh.run('%config AgentMagics.display = "text"').ok()
    assert not fresh.magics.model
    cell = fresh.run(f"%agent resume {sid}").ok()
    assert "Here is the summary." in cell.out
