"""``GET hermes-nb/runs``: the run a cell's request started, found over HTTP in a real
``jupyter server``, so a page reopened without the run's output can show it."""

from __future__ import annotations

import urllib.parse
from pathlib import Path

from dead_run import leave_dead_run
from server_harness import Q, Server

from hermes_nb import models


def asked(request: str, run_id: str, at: float, notebook: str = "analysis.ipynb") -> str:
    session = models.new_session(notebook=notebook, model="replay:x")
    session.messages = [
        {"role": "user", "content": request, "run_id": run_id, "at": at},
        {"role": "assistant", "content": f"Answer of {run_id}."},
    ]
    session.save()
    return session.session_id


def find(server: Server, request: str) -> dict | None:
    return server.get_json(f"hermes-nb/runs{Q}&request={urllib.parse.quote(request)}")["run"]


def test_the_newest_run_of_a_request_is_found(server: Server, store: Path) -> None:
    asked("What is 2 + 2?", "old", 100.0)
    newer = asked("What is 2 + 2?", "new", 200.0)
    asked("Something else", "other", 300.0)
    found = find(server, "\n  What is 2 + 2?\n")  # a cell's text, with its blank space
    assert found is not None
    assert (found["session_id"], found["run_id"]) == (newer, "new")
    assert found["session_dir"] == "work/.hermes_nb/sessions" and found["started_at"] == 200.0
    assert find(server, "What is 3 + 3?") is None


def test_a_run_still_pending_is_found_by_its_request(server: Server, store: Path) -> None:
    sid = models.new_session(notebook="analysis.ipynb").session_id
    leave_dead_run(sid)  # pending request "analyse the data", never written as a message
    found = find(server, "analyse the data")
    assert found is not None and (found["session_id"], found["run_id"]) == (sid, "deadbeef00000000")


def test_another_notebooks_runs_are_not_found_and_the_token_is_needed(server: Server, store: Path) -> None:
    asked("Private question", "r9", 1.0, notebook="other.ipynb")
    assert find(server, "Private question") is None
    status, _, _ = server.request(f"hermes-nb/runs{Q}&request=x", token=False)
    assert status == 403
    status, _, body = server.request(f"hermes-nb/runs{Q}&request=%20")
    assert status == 400, body
