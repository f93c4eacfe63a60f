"""The server extension as an attacker meets it, through a real ``jupyter server``:
links planted beside the sessions, a user who may read but not write, hostile query
values, hostile session contents, and a delete of a session another kernel runs."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from server_harness import Server

from hermes_nb import models

pytestmark = pytest.mark.slow

NOTEBOOK = "work/analysis.ipynb"
Q = "?notebook=work/analysis.ipynb"
TESTS = Path(__file__).resolve().parent


def answered(title: str, messages: list[dict[str, object]] | None = None) -> str:
    session = models.new_session(title=title, notebook="analysis.ipynb", model="replay:x")
    session.messages = messages or [
        {"role": "user", "content": "Hi", "run_id": "r1"},
        {"role": "assistant", "content": "Hello **there**."},
    ]
    session.save()
    return session.session_id


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (not following links) with its bytes; empty lock
    files (left by taking a lock) are not content."""
    out = {}
    for path in sorted(folder.rglob("*")):
        if path.is_symlink():
            out[str(path.relative_to(folder))] = b"-> " + os.readlink(path).encode()
        elif path.is_file() and not path.name.endswith(".lock"):
            out[str(path.relative_to(folder))] = path.read_bytes()
    return out


@pytest.fixture(scope="module")
def readonly_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server whose authorizer lets users read and never write."""
    root = tmp_path_factory.mktemp("readonly") / "served"
    (root / "work").mkdir(parents=True)
    (root / NOTEBOOK).write_text("{}")
    path = os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH", "")) if p)
    srv = Server(
        root,
        extra_args=("--ServerApp.authorizer_class=readonly_authorizer.ReadOnlyAuthorizer",),
        env={"PYTHONPATH": path},
    )
    srv.start()
    yield srv
    srv.stop()


# -- links beside the sessions ------------------------------------------------------


@pytest.mark.parametrize("planted", [".trash", "{sid}.json.bak", "{sid}.json.lock", "_index.json.lock"])
def test_delete_refuses_to_write_through_a_planted_link(
    server: Server, store: Path, tmp_path: Path, planted: str
) -> None:
    sid = answered("Linked")
    outside = tmp_path / "outside"
    outside.mkdir()
    link = store / planted.format(sid=sid)
    link.unlink(missing_ok=True)  # a lock file the save left
    if planted == ".trash":
        link.symlink_to(outside, target_is_directory=True)
    else:
        link.symlink_to(outside / "written-here")
    before = tree(store)
    status, _, body = server.request(f"hermes-nb/sessions/{sid}{Q}", method="DELETE")
    assert status == 403, (status, body)
    message = json.loads(body)["message"]
    assert "symbolic link" in message and planted.format(sid=sid) in message
    assert list(outside.iterdir()) == []
    assert tree(store) == before
    assert server.get_json(f"hermes-nb/sessions/{sid}{Q}")["session"]["title"] == "Linked"
    link.unlink()


@pytest.mark.parametrize("planted", ["_index.json", "_index.json.lock"])
def test_listing_reads_and_writes_no_index_through_a_link(
    server: Server, store: Path, tmp_path: Path, planted: str
) -> None:
    answered("Listed")
    outside = tmp_path / "outside"
    outside.mkdir()
    elsewhere = [{"session_id": "stolen", "title": "Someone else's", "notebook": "analysis.ipynb"}]
    (outside / "_index.json").write_text(json.dumps(elsewhere))
    (store / "_index.json").unlink()  # the listing rebuilds a missing index
    (store / planted).unlink(missing_ok=True)
    (store / planted).symlink_to(outside / "_index.json" if planted == "_index.json" else outside / "made")
    status, _, body = server.request(f"hermes-nb/sessions{Q}")
    assert status == 403, body
    assert planted in json.loads(body)["message"] and b"stolen" not in body
    assert sorted(p.name for p in outside.iterdir()) == ["_index.json"]
    assert json.loads((outside / "_index.json").read_text()) == elsewhere
    (store / planted).unlink()


def test_a_session_file_linked_from_outside_is_not_listed(server: Server, store: Path, tmp_path: Path) -> None:
    answered("Mine")
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps({"session_id": "leak", "title": "Secret title", "notebook": "analysis.ipynb",
                                  "messages": [{"role": "user", "content": "x"}]}))  # fmt: skip
    (store / "leak.json").symlink_to(secret)
    (store / "_index.json").unlink()  # rebuilt from the files by the next reader
    for query in (Q, Q + "&all=1"):
        status, _, body = server.request(f"hermes-nb/sessions{query}")
        assert status == 200 and b"Secret title" not in body and b"Mine" in body, body
    (store / "leak.json").unlink()


def test_agent_delete_refuses_a_trash_that_is_a_link(session_dir: Path, tmp_path: Path) -> None:
    from hermes_nb.errors import UnsafePathError
    from hermes_nb.session_ops import delete_session

    sid = answered("Kernel side")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (session_dir / ".trash").symlink_to(outside, target_is_directory=True)
    with pytest.raises(UnsafePathError, match=r"symbolic link .*\.trash"):
        delete_session(sid)
    assert list(outside.iterdir()) == []
    assert (session_dir / f"{sid}.json").exists()


# -- who may do what ----------------------------------------------------------------


def test_a_user_who_may_only_read_cannot_delete_or_answer(
    readonly_server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = readonly_server.root / "work" / ".hermes_nb" / "sessions"
    models.set_session_dir(folder)
    monkeypatch.setattr(models, "SESSION_DIR", folder)
    monkeypatch.setattr(models, "SESSION_INDEX_FILE", folder / "_index.json")
    models.SESSIONS.clear()
    sid = answered("Shared read-only")
    before = tree(folder)
    status, _, body = readonly_server.request(f"hermes-nb/sessions/{sid}{Q}", method="DELETE")
    assert status == 403, body
    reply = json.dumps({"answer": "yes"}).encode()
    status, _, _ = readonly_server.request(
        "hermes-nb/replies/" + "ab" * 16, method="POST", body=reply
    )
    assert status == 403
    assert tree(folder) == before
    assert not (folder / ".trash").exists()
    # reading is still allowed
    listing = readonly_server.get_json(f"hermes-nb/sessions{Q}")
    assert [s["session_id"] for s in listing["sessions"]] == [sid]
    shown = readonly_server.get_json(f"hermes-nb/sessions/{sid}{Q}")
    assert "<strong>there</strong>" in shown["html"]
    status, _, body = readonly_server.request(f"hermes-nb/sessions/{sid}/export{Q}&format=md")
    assert status == 200 and b"Hello **there**." in body
    models.SESSIONS.clear()


# -- hostile requests and hostile sessions ---------------------------------------------

HOSTILE = [
    ".", "./", "./.", "%2E", "..", "../", "../x.ipynb", "/etc/passwd", "%2Fetc%2Fpasswd",
    "C:%5Cx.ipynb", "%5C%5Cserver%5Cshare", "%00", "a%00b.ipynb", "x" * 5000,
    "a%2F" * 2000 + "x.ipynb", "%FF%FE", "%C0%AF", "%ED%A0%80", "work%2Fanalysis.ipynb%2F..",
    "~", "%20", "%0A", "work%2F",
    "work%2F.hermes_nb%2Fsessions%2F_index.json",
]  # fmt: skip
OTHER = [
    "&offset=-1", "&offset=x", "&offset=99999999999999", "&limit=0", "&limit=%FF", "&limit=5000",
    "&all=%FF", "&format=%FF", "&format=..%2F..", "&offset=%D9%A3",
]  # fmt: skip


def test_no_hostile_query_value_gets_a_500(server: Server, store: Path) -> None:
    sid = answered("Target")
    routes = [
        "hermes-nb/sessions", f"hermes-nb/sessions/{sid}", f"hermes-nb/sessions/{sid}/runs/r1",
        f"hermes-nb/sessions/{sid}/export", "hermes-nb/interrupted", "hermes-nb/runs",
    ]  # fmt: skip
    failures = []
    for route in routes:
        for value in HOSTILE:
            for method in ("GET", "DELETE") if route.endswith(sid) else ("GET",):
                status, _, body = server.request(f"{route}?notebook={value}", method=method)
                listing = route in ("hermes-nb/sessions", "hermes-nb/interrupted", "hermes-nb/runs")
                if status >= 500 or status == 200 and not listing:
                    failures.append((method, route, value[:40], status, body[:120]))
        for extra in [*OTHER, "&request=%FF", "&request=%00", "&request=" + "x" * 9000]:
            status, _, body = server.request(f"{route}{Q}{extra}")
            if status >= 500:
                failures.append(("GET", route, extra, status, body[:120]))
    assert failures == [], "\n".join(map(str, failures))
    status, _, body = server.request(f"hermes-nb/sessions/{sid}?notebook=./.")
    assert status == 400 and "not a folder" in json.loads(body)["message"]
    assert (store / f"{sid}.json").exists()


def test_a_lone_surrogate_is_exported(server: Server, store: Path) -> None:
    sid = answered("Half \udcff an emoji", [
        {"role": "user", "content": "name: caf\udce9", "run_id": "r1"},
        {"role": "assistant", "content": "I read caf\udce9 and \ud83d alone."},
    ])  # fmt: skip
    status, _, body = server.request(f"hermes-nb/sessions/{sid}/export{Q}&format=json")
    assert status == 200, body
    assert json.loads(body)["messages"][1]["content"] == "I read caf\udce9 and \ud83d alone."
    status, _, body = server.request(f"hermes-nb/sessions/{sid}/export{Q}&format=md")
    assert status == 200, body
    assert b"I read caf" in body
    shown = server.get_json(f"hermes-nb/sessions/{sid}{Q}")
    assert "I read caf" in shown["html"]


def test_arguments_nested_five_thousand_deep_are_served(server: Server, store: Path) -> None:
    deep = '{"a": ' * 5000 + "1" + "}" * 5000
    sid = answered("Deep", [
        {"role": "user", "content": "go", "run_id": "r1"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "python", "arguments": deep}},
        ]},
        {"role": "tool", "tool_call_id": "c1", "content": "done"},
        {"role": "assistant", "content": "Finished the deep call."},
    ])  # fmt: skip
    shown = server.get_json(f"hermes-nb/sessions/{sid}{Q}")
    assert "Finished the deep call." in shown["html"] and "Finished the deep call." in shown["markdown"]
    run = server.get_json(f"hermes-nb/sessions/{sid}/runs/r1{Q}")
    assert "Finished the deep call." in run["html"]
    for fmt in ("md", "json"):
        status, _, body = server.request(f"hermes-nb/sessions/{sid}/export{Q}&format={fmt}")
        assert status == 200, (fmt, body[:200])
        assert b"Finished the deep call." in body
    status, _, body = server.request(f"hermes-nb/sessions/{sid}/export{Q}&format=json")
    assert json.loads(body)["messages"][1]["tool_calls"][0]["function"]["arguments"] == deep


def test_a_session_of_odd_shapes_is_served(server: Server, store: Path) -> None:
    """A crafted session file: calls that are not lists, functions that are not objects,
    ids and contents of any type. Every route answers; none fails."""
    odd = [
        {"role": "user", "content": 123, "run_id": "r1"},
        {"role": "assistant", "tool_calls": 5},
        {"role": "assistant", "tool_calls": "abc"},
        {"role": "assistant", "tool_calls": [{"function": "x"}, None, 7]},
        {"role": "assistant", "tool_calls": [{"id": {"a": 1}, "function": {"name": 5, "arguments": [1, 2]}}]},
        {"role": "tool", "tool_call_id": [1], "content": {"x": 1}},
        {"role": None, "content": None},
        {"role": "marker", "kind": 5, "content": [None]},
        {"role": "assistant", "content": "Still here."},
    ]
    data = {"session_id": "odd_one", "title": 5, "notebook": "analysis.ipynb", "messages": odd,
            "pending_messages": 7}  # fmt: skip
    (store / "odd_one.json").write_text(json.dumps(data))
    for route in ("", "/runs/r1", "/export?format=md", "/export?format=json"):
        path = f"hermes-nb/sessions/odd_one{route}" + ("&" if "?" in route else "?") + Q[1:]
        status, _, body = server.request(path)
        assert status == 200, (route, body[:300])
        assert b"Still here." in body
    for route in ("hermes-nb/sessions", "hermes-nb/interrupted"):
        assert server.request(f"{route}{Q}")[0] == 200
