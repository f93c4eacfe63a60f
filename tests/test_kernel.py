"""%%agent in real kernels: streaming, a SIGKILL mid-run, an interrupt, two kernels."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from kernel_harness import NOTEBOOK, Kernel, kernel, kernel_env, load, sessions
from sse_server import ServerProcess, stall_reply, text_reply, tool_reply
from waiting import wait_for

pytestmark = pytest.mark.kernel

def test_a_cell_streams_an_answer_and_saves_the_session(tmp_path: Path) -> None:
    replies = [text_reply("Hello ", "from ", "the **test** server."), text_reply("Second ", "answer.")]
    with ServerProcess(replies) as server, kernel(tmp_path, kernel_env(server, tmp_path)) as k:
        load(k)
        first = k.run("%%agent\nSay hello.")
        assert first.status == "ok", first.text()
        assert "Hello from the **test** server." in first.text()
        assert first.comm_msgs > 0  # a live widget was used while it streamed
        second = k.run("%%agent\nAnd again?")
        assert "Second answer." in second.text()
        [saved] = sessions(tmp_path)
        assert saved["notebook"] == NOTEBOOK
        assert [m["content"] for m in saved["messages"]] == ["Say hello.", "Hello from the **test** server.", "And again?", "Second answer."]
        assert len(server.requests()[1]["body"]["messages"]) >= 4  # the follow-up carried the history
        assert "sk-test-not-a-real-key" not in json.dumps(saved)


def test_a_kernel_killed_after_a_tool_result_is_restored_and_resumed(tmp_path: Path) -> None:
    replies = [
        tool_reply([("call_1", "python", {"code": "answer = 6 * 7\nanswer"})]),
        stall_reply(120, before="Let me think"),
        text_reply("The answer is 42."),
    ]
    with ServerProcess(replies) as server, kernel(tmp_path, kernel_env(server, tmp_path)) as k:
        load(k)
        running = k.submit("%%agent\nCompute 6*7 with python.")

        def checkpointed() -> Any:
            for s in sessions(tmp_path):
                if any(m.get("role") == "tool" for m in s.get("pending_messages") or []):
                    return s
            return None

        pending = wait_for(checkpointed, what="a checkpoint with the tool result")
        assert pending["pending_user_message"] == "Compute 6*7 with python."
        k.kill()
        del running
        k.restart()

        notice = load(k)
        assert "interrupted" in notice.text() and "%agent resume" in notice.text(), notice.text()
        assert "interrupted" not in notice.stderr  # a cell output, not a red stderr box
        [saved] = sessions(tmp_path)
        msgs = saved["messages"]
        assert msgs[0]["role"] == "user" and msgs[0]["content"] == "Compute 6*7 with python."
        assert any(m["role"] == "tool" and "42" in m["content"] for m in msgs)
        assert saved["active_stream_id"] is None

        resumed = k.run("%agent resume")
        assert "The answer is 42." in resumed.text(), resumed.text()
        sent = server.requests()[-1]["body"]["messages"]
        assert any(m["role"] == "tool" and "42" in str(m["content"]) for m in sent)
        assert sent[-1]["role"] in ("tool", "assistant", "user")
        assert not any(m.get("role") == "marker" for m in sent)


def test_interrupting_the_kernel_mid_stream_keeps_the_partial_text(tmp_path: Path) -> None:
    replies = [stall_reply(120, before="Partial answer so far")]
    with ServerProcess(replies) as server, kernel(tmp_path, kernel_env(server, tmp_path)) as k:
        load(k)
        running = k.submit("%%agent\nWrite a long essay.")
        wait_for(
            lambda: any("Partial answer" in (s.get("pending_partial_text") or "") for s in sessions(tmp_path)),
            what="the partial text checkpoint",
        )
        started = time.monotonic()
        k.interrupt()
        k.collect(running, timeout=30)
        assert time.monotonic() - started < 10
        [saved] = sessions(tmp_path)
        roles = [(m["role"], m.get("kind")) for m in saved["messages"]]
        assert roles[0] == ("user", None) and roles[-1] == ("marker", "cancelled")
        assert any(m["role"] == "assistant" and m["content"] == "Partial answer so far" for m in saved["messages"])
        assert saved["active_stream_id"] is None
        follow = k.run("%agent history")
        assert "Partial answer so far" in follow.text()


def test_two_kernels_on_one_folder_never_take_each_others_run(tmp_path: Path) -> None:
    replies = [stall_reply(120, before="Working")]
    with ServerProcess(replies) as server:
        env = kernel_env(server, tmp_path)
        with kernel(tmp_path, env) as first, kernel(tmp_path, env) as second:
            load(first)
            first.submit("%%agent\nA long job.")
            wait_for(lambda: any(s.get("active_stream_id") for s in sessions(tmp_path)), what="a pending run")

            other = load(second)
            assert "interrupted" not in other.stderr
            [saved] = sessions(tmp_path)
            assert saved["active_stream_id"]  # still running in the first kernel: left alone
            refused = second.run(f"%agent use {saved['session_id']}\n%agent cancel")
            assert "another kernel" in refused.text()

            first.kill()
            again = second.run("%reload_ext hermes_nb")
            assert "interrupted" in again.text(), again.text()
            [saved] = sessions(tmp_path)
            assert saved["active_stream_id"] is None
            assert saved["messages"][0]["content"] == "A long job."


def test_an_ask_tool_is_approved_through_the_stdin_channel_while_the_cell_runs(tmp_path: Path) -> None:
    replies = [
        tool_reply([("call_1", "shell", {"command": "echo approved-run"})]),
        tool_reply([("call_2", "shell", {"command": "echo refused-run"})]),
        text_reply("One ran, one was refused."),
    ]
    with ServerProcess(replies) as server, kernel(tmp_path, kernel_env(server, tmp_path)) as k:
        load(k)
        running = k.submit("%%agent\nRun two commands.", allow_stdin=True)
        first = k.answer_input("y")
        second = k.answer_input("n")
        done = k.collect(running, timeout=60)
        assert "Allow shell" in first and "echo approved-run" in first
        assert "echo refused-run" in second
        assert "One ran, one was refused." in done.text()
        [saved] = sessions(tmp_path)
        results = {m["tool_call_id"]: m["content"] for m in saved["messages"] if m["role"] == "tool"}
        assert "approved-run" in results["call_1"]
        assert results["call_2"].startswith("The user declined")  # never ran


def test_settings_given_on_the_kernel_command_line_reach_the_magic(tmp_path: Path) -> None:
    k = Kernel(tmp_path, {"HERMES_NB_MODEL": "replay:nothing.json"})
    k.extra_arguments = ["--AgentMagics.max_turns=3", "--AgentMagics.display=static"]
    k.start()
    try:
        out = k.run("%load_ext hermes_nb\nfrom hermes_nb.kernel.magics import _LOADED\nm = list(_LOADED.values())[-1]\nprint(m.max_turns, m.display)")
        assert out.stdout.strip().endswith("3 static"), out.text()
    finally:
        k.shutdown()


def test_the_cell_that_resumes_a_run_does_not_say_how_to_resume_it(session_dir: Path) -> None:
    """The page's Resume cell (``%load_ext`` then ``%agent resume ID`` in a restarted
    kernel) shows what was saved, but no "Continue it with" above the run it continues."""
    from dead_run import leave_dead_run

    folder = session_dir.parent.parent
    script = folder / "resume.json"
    script.write_text(json.dumps({"replies": ["unused", "Resumed: the answer is 4."]}))
    (folder / NOTEBOOK).write_text("{}")
    env = {"HERMES_NB_MODEL": f"replay:{script}", "JPY_SESSION_NAME": str(folder / NOTEBOOK)}
    with kernel(folder, env) as k:
        made = k.run("%load_ext hermes_nb\n%agent new")
        sid = made.text().split("New session ")[1].split()[0].rstrip(":")
        k.kill()
        leave_dead_run(sid)  # what the killed kernel's run left on disk
        k.restart()
        resumed = k.run(f"%load_ext hermes_nb\n%agent resume {sid}")
        text = resumed.text()
        assert "interrupted by a kernel restart" in text and "Resumed: the answer is 4." in text, text
        assert "Continue it with" not in text and "%agent resume" not in text, text


def test_a_run_sent_by_a_headless_runner_makes_no_widgets(session_dir: Path) -> None:
    """nbclient (``jupyter execute``), nbval and papermill send ``allow_stdin: false``:
    nobody watches a live view there, and nbclient would store every widget's state in
    the executed notebook. Such a run shows only its final transcript."""
    folder = session_dir.parent.parent
    script = folder / "plain.json"
    script.write_text(json.dumps({"replies": ["First answer.", "Second answer."]}))
    (folder / NOTEBOOK).write_text("{}")
    env = {"HERMES_NB_MODEL": f"replay:{script}", "JPY_SESSION_NAME": str(folder / NOTEBOOK)}
    with kernel(folder, env) as k:
        k.run("%load_ext hermes_nb\n%config AgentMagics.auto_title = False")
        headless = k.collect(k.submit("%%agent\nFirst?", allow_stdin=False))
        assert "First answer." in headless.text()
        # only the run's status comm (its own target), no widget's
        assert headless.comm_msgs == len(headless.comms) > 0, headless.comms
        watched = k.run("%%agent\nSecond?")  # as a notebook page sends it
        assert "Second answer." in watched.text() and watched.comm_msgs > len(watched.comms)
