"""Deleting a session that another kernel is running: refused, by the kernel command
and by the server, whatever the deleting side had cached."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kernel_harness import NOTEBOOK, kernel, kernel_env, load, sessions
from server_harness import Server
from sse_server import ServerProcess, stall_reply, text_reply
from waiting import wait_for

from hermes_nb.store.liveness import held_locks

pytestmark = [pytest.mark.kernel, pytest.mark.slow]


def test_a_session_running_in_another_kernel_is_not_deleted(tmp_path: Path) -> None:
    folder = tmp_path / ".hermes_nb" / "sessions"
    with ServerProcess([text_reply("answer 1"), stall_reply(120, before="Working")]) as sse:
        env = kernel_env(sse, tmp_path)
        with kernel(tmp_path, env) as a, kernel(tmp_path, env) as b:
            load(a)
            assert a.run("%%agent\nturn 1").status == "ok"
            [saved] = sessions(tmp_path)
            sid = saved["session_id"]
            load(b)
            assert "answer 1" in b.run("%agent history").text()  # B's copy: not running
            running = a.submit("%%agent\nturn 2")
            wait_for(lambda: len(sse.requests()) == 2, what="the second request")
            wait_for(lambda: held_locks().run_is_live(folder / f"{sid}.run.lock", None), what="A's run lock")

            refused = b.run(f"%agent delete {sid}")
            assert f"Session {sid} is running in another kernel; stop it first." in refused.text()
            assert "Traceback" not in refused.text()
            assert (folder / f"{sid}.json").exists()
            assert not list(folder.glob(".trash/*"))

            server = Server(tmp_path)
            server.start()
            try:
                status, _, body = server.request(f"hermes-nb/sessions/{sid}?notebook={NOTEBOOK}", method="DELETE")
            finally:
                server.stop()
            assert status == 409, body
            assert "is running in another kernel; stop it first" in json.loads(body)["message"]
            assert (folder / f"{sid}.json").exists() and not list(folder.glob(".trash/*"))

            a.interrupt()
            a.collect(running, timeout=60)
            wait_for(lambda: not held_locks().run_is_live(folder / f"{sid}.run.lock", None), what="the run's end")
            gone = b.run(f"%agent delete {sid}")
            assert f"Moved session {sid} to the trash folder." in gone.text(), gone.text()
            assert not (folder / f"{sid}.json").exists()
            [trashed] = folder.glob(".trash/*.json")
            assert [m["content"] for m in json.loads(trashed.read_text())["messages"]][:2] == ["turn 1", "answer 1"]
