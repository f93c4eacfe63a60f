"""The sessions API through a real ``jupyter server`` on 127.0.0.1 with a token."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dead_run import leave_dead_run
from server_harness import Q, Server

from hermes_nb import models

pytestmark = pytest.mark.slow

NOTEBOOK = "work/analysis.ipynb"


def answered(title: str) -> str:
    session = models.new_session(title=title, notebook="analysis.ipynb", model="replay:x")
    session.messages = [
        {"role": "user", "content": "Hi", "run_id": "r1"},
        {"role": "assistant", "content": "Hello **there**."},
    ]
    session.save()
    return session.session_id




def test_the_extension_is_listed_as_enabled() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "jupyter_server", "extension", "list"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    out = re.sub(r"\x1b\[[0-9;]*m", "", done.stdout + done.stderr)  # no colours
    assert "hermes_nb enabled" in out, out
    assert "hermes_nb" in out and "OK" in out.split("hermes_nb", 1)[1][:200], out


def test_every_route_needs_the_token(server: Server, store: Path) -> None:
    sid = answered("Private")
    for path in (
        f"hermes-nb/sessions{Q}",
        f"hermes-nb/sessions/{sid}{Q}",
        f"hermes-nb/sessions/{sid}/runs/r1{Q}",
        f"hermes-nb/sessions/{sid}/export{Q}&format=json",
        f"hermes-nb/interrupted{Q}",
    ):
        status, _, body = server.request(path, token=False)
        assert status == 403, (path, status)
        assert b"Hello" not in body
    status, _, _ = server.request(f"hermes-nb/sessions/{sid}{Q}", method="DELETE", token=False)
    assert status == 403
    assert (store / f"{sid}.json").exists()


def test_list_session_run_and_interrupted_over_http(server: Server, store: Path) -> None:
    sid = answered("Greeting")
    dead = models.new_session(title="Dead", notebook="analysis.ipynb").session_id
    leave_dead_run(dead)
    listing = server.get_json(f"hermes-nb/sessions{Q}")
    assert listing["session_dir"] == "work/.hermes_nb/sessions"
    assert {s["session_id"]: s["status"] for s in listing["sessions"]} == {sid: "ok", dead: "interrupted"}
    one = server.get_json(f"hermes-nb/sessions/{sid}{Q}")
    assert one["session"]["title"] == "Greeting" and "<strong>there</strong>" in one["html"]
    assert "Hello **there**." in one["markdown"]
    run = server.get_json(f"hermes-nb/sessions/{sid}/runs/r1{Q}")
    assert run["state"] == "done" and "Hello" in run["html"]
    interrupted = server.get_json(f"hermes-nb/interrupted{Q}")
    assert [r["session_id"] for r in interrupted["runs"]] == [dead]


def test_export_is_a_download(server: Server, store: Path) -> None:
    sid = answered("Download")
    status, headers, body = server.request(f"hermes-nb/sessions/{sid}/export{Q}&format=md")
    assert status == 200
    assert headers["Content-Disposition"] == f"attachment; filename*=UTF-8''{sid}.md"
    assert b"Hello **there**." in body


def test_delete_needs_xsrf_or_token_and_moves_to_the_trash(server: Server, store: Path) -> None:
    sid = answered("Delete me")
    status, _, body = server.request(f"hermes-nb/sessions/{sid}{Q}", method="DELETE")
    assert status == 200, body
    assert not (store / f"{sid}.json").exists()
    assert list((store / ".trash").glob(f"{sid}-*.json"))
    assert server.get_json(f"hermes-nb/sessions{Q}")["sessions"] == []


@pytest.mark.parametrize(
    "query",
    ["?notebook=../outside.ipynb", "?notebook=work/%2E%2E/%2E%2E/x.ipynb", "?notebook=/etc/passwd", ""],
)
def test_paths_outside_the_root_are_refused(server: Server, store: Path, query: str) -> None:
    status, _, _ = server.request(f"hermes-nb/sessions{query}")
    assert status in (400, 403)


def test_a_thousand_sessions_list_quickly(server: Server, store: Path) -> None:
    from hermes_nb.store.index import IndexRow, rebuild

    for n in range(1000):
        path = store / f"s{n:04d}.json"
        path.write_text(json.dumps({
            "session_id": f"s{n:04d}", "title": f"Session {n}", "notebook": "analysis.ipynb",
            "updated_at": 1_700_000_000 + n, "messages": [{"role": "user", "content": "x"}],
        }))  # fmt: skip
    rows = rebuild(store / "_index.json", store)
    assert len(rows) == 1000 and isinstance(rows[0], IndexRow)
    listing = server.get_json(f"hermes-nb/sessions{Q}")
    assert len(listing["sessions"]) == 1000
    assert listing["sessions"][0]["session_id"] == "s0999"
    assert listing["sessions"][0]["status"] == "ok"


def test_a_transcript_page_over_http(server: Server, store: Path) -> None:
    session = models.new_session(title="Paged", notebook="analysis.ipynb", model="replay:x")
    session.messages = [
        m for n in range(300)
        for m in ({"role": "user", "content": f"question {n}"}, {"role": "assistant", "content": f"answer {n}"})
    ]  # fmt: skip
    session.save()
    sid = session.session_id
    latest = server.get_json(f"hermes-nb/sessions/{sid}{Q}")
    assert latest["page"] == {"offset": 200, "count": 400, "total": 600}
    assert "answer 299" in latest["html"] and "Messages 201-600 of 600" in latest["html"]
    first = server.get_json(f"hermes-nb/sessions/{sid}{Q}&offset=0&limit=2")
    assert first["page"] == {"offset": 0, "count": 2, "total": 600}
    assert "answer 0" in first["markdown"] and "question 1" not in first["markdown"]
    status, _, body = server.request(f"hermes-nb/sessions/{sid}{Q}&limit=5000")
    assert status == 400 and b"limit must be a whole number" in body


def test_the_server_answers_while_a_large_session_is_served(server: Server, store: Path) -> None:
    """Kernels and saves share the server's event loop: while a route reads and draws a
    session of 60,000 messages, three ``/api/status`` requests in a row are answered
    before the route's answer begins."""
    import threading
    import urllib.request

    messages = []
    for n in range(15_000):
        messages += [
            {"role": "user", "content": f"Question {n} about part {n} of the data."},
            {"role": "assistant", "content": "", "tool_calls": [{"id": f"c{n}", "type": "function",
             "function": {"name": "python", "arguments": json.dumps({"code": f"print({n})"})}}]},
            {"role": "tool", "tool_call_id": f"c{n}", "content": f"{n}\n" * 20},
            {"role": "assistant", "content": f"Part {n} is **fine**."},
        ]  # fmt: skip
    data = {"session_id": "large_one", "title": "Large", "notebook": "analysis.ipynb", "messages": messages}
    (store / "large_one.json").write_text(json.dumps(data))
    for route in (f"hermes-nb/sessions/large_one{Q}", f"hermes-nb/sessions/large_one/export{Q}&format=md"):
        order: list[str] = []
        started = threading.Event()

        def slow(route: str = route, order: list[str] = order, started: threading.Event = started) -> None:
            req = urllib.request.Request(server.base + route, headers={"Authorization": f"token {server.token}"})
            started.set()
            with urllib.request.urlopen(req, timeout=300) as resp:  # returns once the answer begins
                order.append(f"route {resp.status}")
                resp.read()

        worker = threading.Thread(target=slow)
        worker.start()
        started.wait(10)
        time.sleep(0.1)  # the route's request has reached the server
        for _ in range(3):
            status, _, _ = server.request("api/status", timeout=300)
            order.append(f"status {status}")
        worker.join(300)
        assert order == ["status 200"] * 3 + ["route 200"], route
