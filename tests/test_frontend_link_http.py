"""The page's answers through a real ``jupyter server``: the replies route writes the
file the kernel waits for, the frontends route leaves the presence marker."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import comm
import pytest
from server_harness import Server

from hermes_nb.kernel.frontend_link import FrontendLink, read_reply

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("link") / "served"
    root.mkdir()
    srv = Server(root)
    srv.start()
    yield srv
    srv.stop()


def folder(server: Server) -> Path:
    """Where the server writes: ``<its runtime dir>/hermes_nb``."""
    return server.root.parent / "jupyter-runtime" / "hermes_nb"


def post(server: Server, path: str, body: bytes = b"{}", token: bool = True) -> tuple[int, Any]:
    request = urllib.request.Request(server.base + path, data=body, method="POST")
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"token {server.token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_a_reply_is_written_once_for_the_kernel(server: Server) -> None:
    rid = "c" * 32
    status, _ = post(server, f"hermes-nb/replies/{rid}", json.dumps({"status": "accepted"}).encode())
    assert status == 201
    assert json.loads((folder(server) / "replies" / f"{rid}.json").read_text()) == {"status": "accepted"}
    again, _ = post(server, f"hermes-nb/replies/{rid}", json.dumps({"status": "rejected"}).encode())
    assert again == 409  # a second tab, or an answer after the kernel gave up
    assert read_reply(rid, folder(server)) == {"status": "accepted"}


@pytest.mark.parametrize(
    ("path", "body", "token", "expected"),
    [
        ("hermes-nb/replies/" + "d" * 32, b"{}", False, 403),
        ("hermes-nb/replies/" + "D" * 32, b"{}", True, 404),
        ("hermes-nb/replies/..%2F..%2Fetc", b"{}", True, 404),
        ("hermes-nb/replies/" + "d" * 32, b"[1, 2]", True, 400),
        ("hermes-nb/replies/" + "d" * 32, b"not json", True, 400),
        ("hermes-nb/frontends/no-such-kernel", b"{}", True, 404),
        ("hermes-nb/frontends/x", b"{}", False, 403),
    ],
)
def test_bad_requests_write_nothing(server: Server, path: str, body: bytes, token: bool, expected: int) -> None:
    status, _ = post(server, path, body, token)
    assert status == expected
    replies = folder(server) / "replies"
    assert not replies.exists() or not list(replies.glob("d*"))


def test_a_too_large_reply_is_refused(server: Server) -> None:
    body = json.dumps({"cells": "x" * (8 * 1024 * 1024)}).encode()
    status, _ = post(server, "hermes-nb/replies/" + "e" * 32, body)
    assert status == 413
    assert not (folder(server) / "replies" / ("e" * 32 + ".json")).exists()


def test_a_page_marks_a_running_kernel_and_the_kernel_sees_it(server: Server) -> None:
    status, kernel = post(server, "api/kernels", json.dumps({"name": "python3"}).encode())
    assert status == 201, kernel
    kid = kernel["id"]
    link = FrontendLink(kid, folder(server))
    assert not link.attached()
    status, _ = post(server, f"hermes-nb/frontends/{kid}")
    assert status == 200
    assert link.attached()
    server.request(f"api/kernels/{kid}", method="DELETE")


def test_the_kernel_waits_for_the_answer_the_page_posts(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole route but the browser: the request goes out on the ops comm, the 'page'
    POSTs its answer to the server, the kernel's wait returns it."""

    class Page(comm.DummyComm):
        def publish_msg(self, msg_type: str, data: Any = None, metadata: Any = None, buffers: Any = None, **keys: Any) -> None:
            if msg_type == "comm_open":
                body = json.dumps({"status": "ok", "cells": [], "path": data["path"]}).encode()
                threading.Thread(target=post, args=(server, f"hermes-nb/replies/{data['reply_id']}", body)).start()

    monkeypatch.setattr(comm, "create_comm", lambda *a, **k: Page(*a, **k))
    reply = FrontendLink("k", folder(server)).ask("read", {"path": "nb.ipynb"}, 10.0)
    assert reply.data == {"status": "ok", "cells": [], "path": "nb.ipynb"}
    assert not list((folder(server) / "replies").glob("*.json"))  # read and removed
