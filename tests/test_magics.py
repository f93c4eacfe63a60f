"""``%load_ext hermes_nb``, configuration and ``%%agent`` cells, in a real in-process
IPython shell with the replay provider."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from dead_run import leave_dead_run
from disk_view import read_session
from notebook_shell import (
    NOTEBOOK,
    MakeNotebook,
    Notebook,
    requests_of,
    roles,
)
from traitlets.config import Config
from waiting import interrupt_when

from hermes_nb import models
from hermes_nb.agent.providers.replay import ReplayProvider
from hermes_nb.agent.tools import registry

TOOL_CALL = {"text": "Let me compute.", "tool_calls": [{"name": "python", "arguments": {"code": "x = 6 * 7\nx"}}]}


# -- loading and configuring -------------------------------------------------------------


def test_load_ext_registers_the_cell_and_line_magic(make_notebook: MakeNotebook) -> None:
    nb = make_notebook(load=False)
    assert nb.shell.find_cell_magic("agent") is None
    nb.run("%load_ext hermes_nb").ok()
    assert nb.shell.find_cell_magic("agent") is not None
    assert nb.shell.find_line_magic("agent") is not None
    assert nb.magics.notebook == NOTEBOOK
    assert nb.magics.current_session_id is None  # no session is made before the first request


def test_config_magic_sets_traits(nb: Notebook, tmp_path: Path) -> None:
    nb.run('%config AgentMagics.model = "openai:gpt-4.1-mini"').ok()
    nb.run("%config AgentMagics.max_turns = 4").ok()
    nb.run('%config AgentMagics.tool_policies = {"shell": "deny"}').ok()
    assert nb.magics.model == "openai:gpt-4.1-mini"
    assert nb.magics.max_turns == 4
    assert nb.magics.tool_policies == {"shell": "deny"}
    assert "openai:gpt-4.1-mini" in nb.run("%agent model").ok().out


def test_model_defaults_to_the_environment(make_notebook: MakeNotebook, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    script = tmp_path / "env.json"
    script.write_text(json.dumps({"replies": ["From the environment."]}))
    monkeypatch.setenv("HERMES_NB_MODEL", f"replay:{script}")
    nb = make_notebook()
    nb.run('%config AgentMagics.display = "text"').ok()
    assert nb.magics.model == f"replay:{script}"
    assert "From the environment." in nb.run("%%agent\nhello").ok().out


def test_profile_config_is_honoured(make_notebook: MakeNotebook, tmp_path: Path, replays: list[ReplayProvider]) -> None:
    """``c.AgentMagics.x = ...`` in a profile (a Config given to the shell) applies."""
    script = tmp_path / "loop.json"
    script.write_text(json.dumps({"replies": [TOOL_CALL] * 6}))
    elsewhere = tmp_path / "configured-sessions"
    cfg = Config()
    cfg.AgentMagics.max_turns = 3
    cfg.AgentMagics.display = "text"
    cfg.AgentMagics.model = f"replay:{script}"
    cfg.AgentMagics.session_dir = str(elsewhere)
    nb = make_notebook(cfg)
    assert nb.magics.max_turns == 3
    assert Path(models.SESSION_DIR) == elsewhere

    cell = nb.run("%%agent\nkeep going").ok()
    assert "Stopped after 3 model requests" in cell.out
    assert len(requests_of(replays)) == 3
    saved = [p for p in elsewhere.glob("*.json") if p.name != "_index.json"]
    assert len(saved) == 1
    assert read_session(saved[0])["messages"][-1]["kind"] == "turn_limit"


def test_session_dir_config_moves_the_store(nb: Notebook, tmp_path: Path) -> None:
    nb.use_script("Stored elsewhere.")
    target = tmp_path / "my-sessions"
    nb.run(f'%config AgentMagics.session_dir = "{target}"').ok()
    nb.run("%%agent\nwhere do you go?").ok()
    files = [p for p in target.glob("*.json") if p.name != "_index.json"]
    assert len(files) == 1
    assert read_session(files[0])["messages"][-1]["content"] == "Stored elsewhere."
    assert not list((tmp_path / ".hermes_nb" / "sessions").glob("2*.json"))


def test_without_a_notebook_clue_sessions_go_to_the_working_directory_with_a_warning(make_notebook: MakeNotebook, tmp_path: Path) -> None:
    nb = make_notebook(load=False, notebook=False)
    cell = nb.run("%load_ext hermes_nb").ok()
    assert "could not tell which notebook this is" in cell.err
    assert "AgentMagics.session_dir" in cell.err
    assert Path(models.SESSION_DIR) == tmp_path / ".hermes_nb" / "sessions"
    assert nb.magics.notebook is None


def test_loading_imports_no_sdk_widgets_or_markdown(tmp_path: Path) -> None:
    code = (
        "import json, sys\n"
        "from traitlets.config import Config\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "cfg = Config(); cfg.HistoryManager.enabled = False\n"
        "shell = InteractiveShell.instance(config=cfg)\n"
        "assert shell.run_cell('%load_ext hermes_nb').success\n"
        "assert shell.find_cell_magic('agent') is not None\n"
        "assert shell.run_cell('%config AgentMagics.model = \"openai:gpt-4.1-mini\"').success\n"
        "heavy = ('openai', 'anthropic', 'ipywidgets', 'xllamacpp', 'markdown_it')\n"
        "print(json.dumps(sorted(m for m in heavy if m in sys.modules)))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "HERMES_NB_MODEL"}
    env["JPY_SESSION_NAME"] = str(tmp_path / NOTEBOOK)
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_after_a_load_the_notebooks_latest_session_is_current(make_notebook: MakeNotebook, tmp_path: Path, replays: list[ReplayProvider]) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"replies": ["One.", "Two."]}))
    nb = make_notebook()
    nb.run(f'%config AgentMagics.model = "replay:{script}"').ok()
    nb.run("%%agent\nolder session").ok()
    older = nb.current
    nb.run("%%agent --new\nnewer session").ok()
    newer = nb.current
    nb.run(f"%agent use {older}").ok()

    models.SESSIONS.clear()  # a restarted kernel
    again = make_notebook()
    assert again.magics.current_session_id == newer
    again.run(f'%config AgentMagics.model = "replay:{script}"').ok()
    cell = again.run("%%agent\ncontinue")  # display "auto" in a terminal shell: text
    assert "Two." in cell.ok().out and "[replay:" in cell.out
    assert [m["content"] for m in replays[-1].requests[-1][1:]] == ["newer session", "One.", "continue"]


def test_loading_restores_an_interrupted_run_and_says_so(make_notebook: MakeNotebook, session_dir: Path) -> None:
    sid = models.new_session(title="Analysis", notebook=NOTEBOOK).session_id
    other = models.new_session(title="Other notebook", notebook="other.ipynb").session_id
    leave_dead_run(sid)
    leave_dead_run(other)
    models.SESSIONS.clear()  # a fresh kernel

    nb = make_notebook(load=False)
    cell = nb.run("%load_ext hermes_nb").ok()
    assert "interrupted" not in cell.err  # shown as output, not as an error
    notices = [line for line in cell.out.splitlines() if "interrupted" in line]
    assert len(notices) == 1, cell.out
    assert sid in notices[0] and "'Analysis'" in notices[0]
    assert "Saved: your request, 2 tool calls (1 with a result), no answer text yet." in cell.out
    assert f"%agent resume {sid}" in cell.out

    saved = nb.on_disk(sid)
    msgs = saved["messages"]
    assert msgs[0] == {**msgs[0], "role": "user", "content": "analyse the data", "recovered": True}
    results = {m["tool_call_id"]: m["content"] for m in msgs if m["role"] == "tool"}
    assert results["c1"] == "2" and "Interrupted" in results["c2"]
    assert msgs[-1]["role"] == "marker" and msgs[-1]["kind"] == "interrupted"
    assert saved["active_stream_id"] is None and saved["pending_user_message"] is None
    assert nb.magics.current_session_id == sid  # the notebook's latest session is current
    # another notebook's run is not this notebook's business
    assert nb.on_disk(other)["active_stream_id"] == "deadbeef00000000"


# -- %%agent -------------------------------------------------------------------------------


def test_a_cell_prints_the_answer_and_saves_the_exchange(nb: Notebook) -> None:
    nb.use_script(TOOL_CALL, "The answer is **42**.")
    cell = nb.run("%%agent\nWhat is 6 times 7?").ok()
    assert "Let me compute." in cell.out
    assert "python(" in cell.out and "done" in cell.out
    assert "The answer is **42**." in cell.out
    assert nb.shell.user_ns["x"] == 42  # the python tool ran in the user's namespace

    saved = nb.on_disk()
    assert roles(saved["messages"]) == ["user", "assistant", "tool", "assistant"]
    assert saved["messages"][0]["content"] == "What is 6 times 7?"
    assert saved["messages"][2]["content"].endswith("42")
    assert saved["messages"][-1]["content"] == "The answer is **42**."
    assert saved["notebook"] == NOTEBOOK and saved["active_stream_id"] is None
    assert saved["input_tokens"] > 0 and saved["output_tokens"] > 0


def test_a_follow_up_cell_continues_the_session(nb: Notebook, replays: list[ReplayProvider]) -> None:
    nb.use_script("Paris.", "About 2.1 million people.")
    nb.run("%%agent\nCapital of France?").ok()
    first = nb.current
    cell = nb.run("%%agent\nHow many live there?").ok()
    assert "About 2.1 million people." in cell.out
    assert nb.current == first
    sent = replays[-1].requests[-1]
    assert [(m["role"], m["content"]) for m in sent[1:]] == [
        ("user", "Capital of France?"),
        ("assistant", "Paris."),
        ("user", "How many live there?"),
    ]
    assert sent[0]["role"] == "system"
    assert [m["content"] for m in nb.on_disk()["messages"]] == [
        "Capital of France?", "Paris.", "How many live there?", "About 2.1 million people.",
    ]


def test_the_static_display_shows_the_transcript_at_the_end(nb: Notebook) -> None:
    nb.use_script("A *static* answer.")
    nb.run('%config AgentMagics.display = "static"').ok()
    cell = nb.run("%%agent\nhello").ok()
    assert "A *static* answer." in cell.out


def test_model_option_overrides_for_one_cell(nb: Notebook) -> None:
    default = nb.use_script("Default one.", "Default two.")
    other = nb.script("From the other model.", name="other.json")
    cell = nb.run(f"%%agent --model replay:{other}\nhi").ok()
    assert "From the other model." in cell.out
    assert nb.magics.model == f"replay:{default}"
    cell = nb.run("%%agent\nand you?").ok()  # the configured model again, same session
    assert "Default two." in cell.out
    assert [m["content"] for m in nb.on_disk()["messages"]] == ["hi", "From the other model.", "and you?", "Default two."]


def test_new_option_starts_a_fresh_session(nb: Notebook, replays: list[ReplayProvider]) -> None:
    nb.use_script("First answer.", "Second answer.")
    nb.run("%%agent\nfirst").ok()
    first = nb.current
    cell = nb.run("%%agent --new\nstart over").ok()
    assert "First answer." in cell.out  # a new session: reply 1 of the script again
    assert nb.current != first
    assert [m["content"] for m in replays[-1].requests[-1][1:]] == ["start over"]
    assert len(nb.on_disk(first)["messages"]) == 2
    assert [m["content"] for m in nb.on_disk()["messages"]] == ["start over", "First answer."]


def test_session_option_continues_an_older_session(nb: Notebook, replays: list[ReplayProvider]) -> None:
    nb.use_script("One.", "Two.")
    nb.run("%%agent\nfirst session").ok()
    first = nb.current
    nb.run("%%agent --new\nsecond session").ok()
    cell = nb.run(f"%%agent --session {first}\nback to the first").ok()
    assert "Two." in cell.out
    assert nb.current == first
    assert [m["content"] for m in replays[-1].requests[-1][1:]] == ["first session", "One.", "back to the first"]
    assert len(nb.on_disk(first)["messages"]) == 4

    assert "No session" in nb.run("%%agent --session 20990101_000000_deadbeef\nhi").usage_error()
    assert nb.current == first


def test_no_tools_option_sends_no_tools(nb: Notebook, replays: list[ReplayProvider]) -> None:
    nb.use_script(TOOL_CALL, "Done.")
    nb.run("%%agent\nwith tools").ok()
    offered = {t["function"]["name"] for t in replays[-1].tools[0]}
    assert {"python", "read_file", "list_files", "write_file", "shell"} <= offered
    nb.shell.user_ns.pop("x")

    nb.run("%%agent --new --no-tools\nwithout tools").ok()
    assert replays[-1].tools == [[], []]
    result = next(m for m in nb.on_disk()["messages"] if m["role"] == "tool")
    assert "no tool named 'python'" in result["content"]
    assert "x" not in nb.shell.user_ns  # the call the model made anyway did not run


def test_max_turns_option_stops_the_loop(nb: Notebook, replays: list[ReplayProvider]) -> None:
    nb.use_script(TOOL_CALL, TOOL_CALL, TOOL_CALL, "never reached")
    cell = nb.run("%%agent --max-turns 2\nloop").ok()
    assert "Stopped after 2 model requests" in cell.out
    assert len(replays[-1].requests) == 2
    saved = nb.on_disk()["messages"]
    assert saved[-1]["role"] == "marker" and saved[-1]["kind"] == "turn_limit"
    assert roles(saved)[:-1] == ["user", "assistant", "tool", "assistant", "tool"]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("--bogus", "unrecognized arguments: --bogus"),
        ("--max-turns many", "invalid int value"),
        ("--max-turns 0", "--max-turns must be at least 1"),
        ("--new --session 20990101_000000_deadbeef", "either --new or --session"),
    ],
)
def test_bad_cell_options_are_a_usage_message(nb: Notebook, line: str, expected: str) -> None:
    nb.use_script("unused")
    message = nb.run(f"%%agent {line}\nhello").usage_error()
    assert expected in message and "\n" not in message
    assert nb.session_files() == []


def test_an_empty_cell_is_a_usage_message(nb: Notebook) -> None:
    nb.use_script("unused")
    assert "needs a request" in nb.run("%%agent\n   \n").usage_error()
    assert nb.session_files() == []


def test_an_unknown_model_is_a_one_line_message_listing_the_choices(nb: Notebook) -> None:
    nb.run('%config AgentMagics.model = "gpt-9:turbo"').ok()
    message = nb.run("%%agent\nhello").usage_error()
    assert "'gpt-9'" in message and "\n" not in message
    for choice in ("openai:", "anthropic:", "ollama:", "local:smollm2", "replay:"):
        assert choice in message
    assert "Available" in nb.run("%%agent --model nonsense\nhello").usage_error()
    assert nb.session_files() == []


def test_a_missing_replay_script_is_named(nb: Notebook, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.json"
    nb.run(f'%config AgentMagics.model = "replay:{missing}"').ok()
    message = nb.run("%%agent\nhello").usage_error()
    assert message == f"replay script not found: {missing}"
    assert nb.session_files() == []


def test_a_provider_failure_is_shown_and_the_request_kept(nb: Notebook) -> None:
    nb.use_script({"text": "Half", "error": "simulated outage"})
    cell = nb.run("%%agent\nare you there?").ok()
    assert "simulated outage" in cell.out
    saved = nb.on_disk()
    assert saved["messages"][0]["content"] == "are you there?"
    assert saved["messages"][-1]["role"] == "marker" and saved["messages"][-1]["kind"] == "error"
    assert "simulated outage" in saved["messages"][-1]["content"]
    assert saved["active_stream_id"] is None


def test_an_empty_reply_is_reported(nb: Notebook) -> None:
    nb.use_script({"text": ""})
    cell = nb.run("%%agent\nsay nothing").ok()
    assert "The model returned no answer." in cell.out
    assert nb.on_disk()["messages"][-1]["kind"] == "empty"


def test_an_interrupt_cancels_the_run_and_keeps_the_partial_text(nb: Notebook) -> None:
    nb.use_script({"chunks": [f"w{i} " for i in range(300)], "delay": 0.01})

    shown = sys.stdout  # what the cell prints (captured)
    with interrupt_when(lambda: "w0 w1 " in shown.getvalue(), what="the first words on screen"):
        cell = nb.run("%%agent\ncount slowly")
    cell.ok()  # the cell ends cleanly, no KeyboardInterrupt traceback
    assert "w0 w1 " in cell.out and "w299" not in cell.out
    msgs = nb.on_disk()["messages"]
    assert msgs[0]["content"] == "count slowly"
    assert msgs[1]["role"] == "assistant" and msgs[1]["content"].startswith("w0 w1 ")
    assert msgs[-1]["role"] == "marker" and msgs[-1]["kind"] == "cancelled"
    assert nb.on_disk()["active_stream_id"] is None


def test_the_python_tools_rich_output_is_shown_in_a_text_cell(nb: Notebook) -> None:
    code = "from IPython.display import Markdown, display\ndisplay(Markdown('**a rich table**'))"
    nb.use_script({"tool_calls": [{"name": "python", "arguments": {"code": code}}]}, "Shown above.")
    cell = nb.run("%%agent\nshow me").ok()
    assert "**a rich table**" in cell.out
    assert cell.out.index("**a rich table**") < cell.out.index("Shown above.")


def test_a_tool_that_raises_does_not_stop_the_run(nb: Notebook, monkeypatch: pytest.MonkeyPatch, replays: list[ReplayProvider]) -> None:
    monkeypatch.setattr(registry, "USER_TOOLS", registry.ToolRegistry())
    nb.run(
        "import hermes_nb\n"
        "@hermes_nb.tool\n"
        "def explode(what: str) -> str:\n"
        '    """Blow something up."""\n'
        "    raise RuntimeError('boom: ' + what)\n"
    ).ok()
    nb.use_script({"tool_calls": [{"name": "explode", "arguments": {"what": "the lab"}}]}, "That did not work.")
    cell = nb.run("%%agent\nblow up the lab").ok()
    assert "explode" in cell.out and "That did not work." in cell.out
    result = next(m for m in nb.on_disk()["messages"] if m["role"] == "tool")
    assert "RuntimeError" in result["content"] and "boom: the lab" in result["content"]
    told = [m for m in replays[-1].requests[-1] if m["role"] == "tool"]
    assert told and "boom: the lab" in told[0]["content"]
    assert nb.on_disk()["messages"][-1]["content"] == "That did not work."


def test_ask_policy_without_anyone_to_ask_denies_and_tells_the_model(nb: Notebook, monkeypatch: pytest.MonkeyPatch, replays: list[ReplayProvider]) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # nobody at the keyboard
    nb.use_script(TOOL_CALL, "I was not allowed.")
    nb.run('%config AgentMagics.tool_policies = {"python": "ask"}').ok()
    cell = nb.run("%%agent\ncompute").ok()
    assert "Allow python(" in cell.out  # the question was put
    assert "x" not in nb.shell.user_ns
    result = next(m for m in nb.on_disk()["messages"] if m["role"] == "tool")
    assert "python" in result["content"]
    assert "declined" in result["content"] or "Not run" in result["content"]
    told = [m for m in replays[-1].requests[-1] if m["role"] == "tool"]
    assert told == [{"role": "tool", "tool_call_id": result["tool_call_id"], "content": result["content"]}]
    assert "I was not allowed." in cell.out


def test_ask_policy_runs_the_tool_when_the_user_says_yes(nb: Notebook, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n"))
    nb.use_script(TOOL_CALL, "Allowed.")
    nb.run('%config AgentMagics.tool_policies = {"python": "ask"}').ok()
    nb.run("%%agent\ncompute").ok()
    assert nb.shell.user_ns["x"] == 42


# -- titles ----------------------------------------------------------------------------------


def test_the_first_exchange_names_the_session(nb: Notebook) -> None:
    nb.use_script("Fine.", "Still fine.")
    nb.run("%%agent\nPlot the monthly revenue of the sales data please").ok()
    title = "Plot the monthly revenue of the sales data…"
    assert nb.on_disk()["title"] == title and nb.on_disk()["manual_title"] is False
    nb.run("%%agent\nNow something else entirely").ok()
    assert nb.on_disk()["title"] == title
    assert title in nb.run("%agent sessions").ok().out


def test_a_title_the_user_set_is_never_replaced(nb: Notebook) -> None:
    nb.use_script("Fine.")
    nb.run("%agent new").ok()
    nb.run("%agent title Quarterly report").ok()
    nb.run("%%agent\nPlot the monthly revenue please").ok()
    saved = nb.on_disk()
    assert saved["title"] == "Quarterly report" and saved["manual_title"] is True
    assert len(saved["messages"]) == 2


def test_auto_title_can_be_turned_off(nb: Notebook) -> None:
    nb.use_script("Fine.")
    nb.run("%config AgentMagics.auto_title = False").ok()
    nb.run("%%agent\nPlot the monthly revenue please").ok()
    assert nb.on_disk()["title"] == "New session"


def test_a_model_that_cannot_call_tools_gets_the_request_without_the_namespace_summary(
    nb: Notebook, replays: list[ReplayProvider]
) -> None:
    """A plain-chat model cannot use the variables' names, and a small one answers the
    summary instead of the question: it gets the user's words (and any @name)."""
    nb.run("total = 41").ok()
    path = nb.folder / "plain.json"
    path.write_text(json.dumps({"replies": ["Paris.", "Rome."], "tools": False}), encoding="utf-8")
    nb.run(f'%config AgentMagics.model = "replay:{path}"').ok()
    nb.run("%%agent\nWhat is the capital of France?").ok()
    nb.run("%%agent\nAnd of Italy? Also look at @total").ok()
    requests = requests_of(replays)
    users = [m["content"] for m in requests[-1] if m["role"] == "user"]
    assert users[0] == "What is the capital of France?"
    assert users[1].startswith("And of Italy? Also look at @total") and "total" in users[1].split("\n\n", 1)[1]
    assert "kernel namespace" not in json.dumps(requests)
    nb.use_script("Done.")  # a model that calls tools still gets the summary
    nb.run("%%agent --new\nAnything?").ok()
    assert "kernel namespace" in json.dumps(requests_of(replays)[-1])
