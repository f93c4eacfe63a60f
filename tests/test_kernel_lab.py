"""The JupyterLab contract in a real kernel: the live view's MIME entry, the run status
comm, and the restore notice after a SIGKILL during a slow tool."""

from __future__ import annotations

from pathlib import Path

import pytest
from kernel_harness import kernel, kernel_env, load, sessions
from sse_server import ServerProcess, text_reply, tool_reply
from waiting import wait_for

pytestmark = pytest.mark.kernel

MIME = "application/vnd.hermes-nb.run+json"


def test_the_live_view_and_the_status_comm_name_the_run(tmp_path: Path) -> None:
    replies = [
        tool_reply([("call_1", "python", {"code": "6 * 7"})], text="Let me compute."),
        text_reply("It is 42."),
    ]
    with ServerProcess(replies) as server, kernel(tmp_path, kernel_env(server, tmp_path)) as k:
        load(k)
        done = k.run("%%agent\nCompute 6*7.")
        assert done.status == "ok", done.text()
        [saved] = sessions(tmp_path)
        [entry] = [d[MIME] for d in done.displays if MIME in d]
        run_id = saved["messages"][0]["run_id"]
        assert entry == {
            "version": 1, "session_id": saved["session_id"], "run_id": run_id,
            "notebook": "analysis.ipynb", "session_dir": ".hermes_nb/sessions",
            "model": "openai:test-model", "started_at": entry["started_at"],
        }  # fmt: skip
        kinds = [kind for kind, _ in done.comms]
        assert kinds[0] == "comm_open" and kinds[-1] == "comm_close", kinds
        opened = done.comms[0][1]
        assert opened["target_name"] == "hermes_nb.run"
        assert opened["data"]["phase"] == "running" and opened["data"]["run_id"] == run_id
        final = [c["data"] for kind, c in done.comms if kind == "comm_msg"][-1]
        assert final["phase"] == "done" and final["output_tokens"] > 0


def test_a_kill_during_a_slow_tool_is_reported_with_what_was_saved(tmp_path: Path) -> None:
    replies = [
        tool_reply([("call_1", "python", {"code": "import time\ntime.sleep(120)"})], text="I'll run the slow part."),
        text_reply("Finished after the restart."),
    ]
    with ServerProcess(replies) as server, kernel(tmp_path, kernel_env(server, tmp_path)) as k:
        load(k)
        running = k.submit("%%agent\nRun the slow part.")

        def tool_call_saved() -> bool:
            return any(
                m.get("tool_calls") for s in sessions(tmp_path) for m in s.get("pending_messages") or []
            )

        wait_for(tool_call_saved, what="a checkpoint with the tool call")
        k.kill()
        del running
        k.restart()

        notice = load(k)
        assert "interrupted" not in notice.stderr, notice.stderr  # not a red stderr box
        [md] = [d["text/markdown"] for d in notice.displays if "text/markdown" in d]
        assert "interrupted by a kernel restart" in md
        assert "1 tool call (0 with a result), 23 characters of answer" in md, md
        [saved] = sessions(tmp_path)
        sid = saved["session_id"]
        assert f"`%agent resume {sid}`" in md
        assert saved["messages"][0]["run_id"] and saved["messages"][-1]["kind"] == "interrupted"

        resumed = k.run(f"%agent resume {sid}")
        assert "Finished after the restart." in resumed.text(), resumed.text()
