"""Two real kernels taking turns in one session: every turn stays, no kernel gets stuck."""

from __future__ import annotations

from pathlib import Path

import pytest
from kernel_harness import kernel, kernel_env, load, sessions
from sse_server import ServerProcess, text_reply

pytestmark = pytest.mark.kernel


def test_two_kernels_take_turns_in_one_session(tmp_path: Path) -> None:
    replies = [text_reply(f"answer {n}") for n in (1, 2, 3, 4)]
    with ServerProcess(replies) as server:
        env = kernel_env(server, tmp_path)
        with kernel(tmp_path, env) as a, kernel(tmp_path, env) as b:
            load(a)
            assert a.run("%%agent\nturn 1").status == "ok"
            load(b)  # B's current session is A's
            assert b.run("%%agent\nturn 2").status == "ok"
            third = a.run("%%agent\nturn 3")  # A's copy was read before turn 2
            assert third.status == "ok", third.text()
            [saved] = sessions(tmp_path)
            assert [m["content"] for m in saved["messages"]] == [
                "turn 1", "answer 1", "turn 2", "answer 2", "turn 3", "answer 3"
            ]
            assert len(server.requests()[2]["body"]["messages"]) >= 5  # A sent B's turn too

            assert a.run("%agent undo").status == "ok"
            fourth = b.run("%%agent\nturn 4")  # B's copy predates the undo
            assert fourth.status == "ok" and "Reload" not in fourth.text(), fourth.text()
            again = b.run("%agent history")
            assert again.status == "ok" and "Traceback" not in again.text()
            [saved] = sessions(tmp_path)
            assert [m["content"] for m in saved["messages"]] == [
                "turn 1", "answer 1", "turn 2", "answer 2", "turn 4", "answer 4"
            ]
            use = a.run(f"%agent use {saved['session_id']}")
            assert "(6 messages)" in use.text()
