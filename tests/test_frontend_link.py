"""The kernel's side of the round trip to the JupyterLab page: the ops comm goes out,
the answer comes back as a file; first answer wins, timeouts and Stop withdraw it."""

from __future__ import annotations

import _thread
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import comm
import pytest
from kernel_harness import default_sigint

from hermes_nb.kernel import frontend_link
from hermes_nb.kernel.frontend_link import COMM_TARGET, FrontendLink, read_reply, write_reply


class PageComm(comm.DummyComm):
    """The ops comm; ``answer`` plays the page: it gets the request and may write replies."""

    opened: list[dict[str, Any]] = []
    closed: list[str] = []
    answer: Callable[[dict[str, Any]], None] | None = None

    def publish_msg(self, msg_type: str, data: Any = None, metadata: Any = None, buffers: Any = None, **keys: Any) -> None:
        if msg_type == "comm_open":
            PageComm.opened.append({"target": keys.get("target_name"), **data})
            if PageComm.answer is not None:
                threading.Thread(target=PageComm.answer, args=(data,), daemon=True).start()
        elif msg_type == "comm_close":
            PageComm.closed.append(self.comm_id)


@pytest.fixture
def page(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[PageComm]]:
    PageComm.opened, PageComm.closed, PageComm.answer = [], [], None
    monkeypatch.setattr(comm, "create_comm", lambda *a, **k: PageComm(*a, **k))
    yield PageComm


def test_the_first_answer_wins_and_is_removed_once_read(tmp_path: Path) -> None:
    rid = "a" * 32
    assert write_reply(rid, {"status": "accepted"}, tmp_path)
    assert not write_reply(rid, {"status": "rejected"}, tmp_path)
    assert read_reply(rid, tmp_path) == {"status": "accepted"}
    assert read_reply(rid, tmp_path) is None
    assert list((tmp_path / "replies").iterdir()) == []  # no temp files left


@pytest.mark.parametrize("bad", ["../etc/passwd", "A" * 32, "a" * 31, "a" * 33, "", "a/" + "a" * 30])
def test_reply_ids_are_checked(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValueError):
        write_reply(bad, {}, tmp_path)


def test_an_answer_from_the_page_is_returned_and_the_comm_closed(tmp_path: Path, page: type[PageComm]) -> None:
    page.answer = lambda req: write_reply(req["reply_id"], {"status": "ok", "echo": req["path"]}, tmp_path)
    reply = FrontendLink("k1", tmp_path).ask("read", {"path": "/nb.ipynb"}, 5.0)
    assert reply.data == {"status": "ok", "echo": "/nb.ipynb"}
    assert page.opened[0]["target"] == COMM_TARGET and page.opened[0]["op"] == "read"
    assert len(page.closed) == 1
    assert list((tmp_path / "replies").iterdir()) == []


def test_no_answer_times_out_and_a_late_answer_is_refused(tmp_path: Path, page: type[PageComm]) -> None:
    started = time.monotonic()
    reply = FrontendLink("k1", tmp_path).ask("read", {}, 0.3)
    assert reply.data is None and reply.why == "timeout"
    assert time.monotonic() - started < 3
    rid = page.opened[0]["reply_id"]
    assert not write_reply(rid, {"status": "ok"}, tmp_path)  # the page's late POST gets 409
    assert len(page.closed) == 1  # the page takes its question away


def test_a_diff_nobody_shows_is_withdrawn(tmp_path: Path, page: type[PageComm]) -> None:
    reply = FrontendLink("k1", tmp_path).ask("edit", {}, None, shown_timeout=0.3)
    assert reply.data is None and reply.why == "timeout"
    req = page.opened[0]
    assert not write_reply(req["ack_id"], {}, tmp_path)
    assert not write_reply(req["reply_id"], {"status": "accepted"}, tmp_path)


def test_a_shown_diff_waits_for_the_users_answer(tmp_path: Path, page: type[PageComm]) -> None:
    def user(req: dict[str, Any]) -> None:
        write_reply(req["ack_id"], {"status": "shown"}, tmp_path)
        time.sleep(1.0)  # longer than the time allowed to show it: the user takes their time
        write_reply(req["reply_id"], {"status": "rejected"}, tmp_path)

    page.answer = user
    reply = FrontendLink("k1", tmp_path).ask("edit", {}, None, shown_timeout=0.5)
    assert reply.data == {"status": "rejected"}


def test_a_diff_waits_no_longer_once_its_page_is_gone(tmp_path: Path, page: type[PageComm], monkeypatch: pytest.MonkeyPatch) -> None:
    """A tab closed while it showed a diff stops renewing its marker: once the marker
    is stale the kernel stops waiting, changes nothing and refuses a late answer."""
    monkeypatch.setattr(frontend_link, "PRESENCE_CHECK", 0.05)
    marker = frontend_link.mark_frontend("k1", tmp_path)

    def closed_tab(req: dict[str, Any]) -> None:
        write_reply(req["ack_id"], {"status": "shown"}, tmp_path)
        time.sleep(0.3)  # still there: the wait goes on
        stale = time.time() - frontend_link.MARKER_TTL - 1
        os.utime(marker, (stale, stale))

    page.answer = closed_tab
    started = time.monotonic()
    reply = FrontendLink("k1", tmp_path).ask("edit", {}, None, shown_timeout=2.0)
    assert reply.data is None and reply.why == frontend_link.PAGE_GONE
    assert 0.3 <= time.monotonic() - started < 3
    assert not write_reply(page.opened[0]["reply_id"], {"status": "accepted"}, tmp_path)


def test_a_cancelled_run_stops_waiting(tmp_path: Path, page: type[PageComm]) -> None:
    cancel = threading.Event()
    threading.Timer(0.2, cancel.set).start()
    reply = FrontendLink("k1", tmp_path).ask("edit", {}, None, cancel)
    assert reply.data is None and reply.why == "cancelled"
    assert not write_reply(page.opened[0]["reply_id"], {"status": "accepted"}, tmp_path)


def test_stop_interrupts_the_wait_promptly_and_withdraws_the_request(tmp_path: Path, page: type[PageComm]) -> None:
    with default_sigint():
        threading.Timer(0.3, _thread.interrupt_main).start()
        started = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            FrontendLink("k1", tmp_path).ask("edit", {}, None)
        assert time.monotonic() - started < 2
    assert not write_reply(page.opened[0]["reply_id"], {"status": "accepted"}, tmp_path)
    assert len(page.closed) == 1


def test_presence_is_the_pages_marker_for_this_kernel(tmp_path: Path) -> None:
    link = FrontendLink("0c1e-kernel", tmp_path)
    assert not link.attached()
    frontend_link.mark_frontend("0c1e-kernel", tmp_path)
    assert link.attached()
    assert not FrontendLink("other", tmp_path).attached()
    assert not FrontendLink(None, tmp_path).attached()  # outside a kernel: never
    marker = frontend_link.frontends_dir(tmp_path) / "0c1e-kernel"
    old = time.time() - frontend_link.MARKER_TTL - 5
    os.utime(marker, (old, old))  # a tab closed minutes ago stopped renewing it
    assert not link.attached()
    frontend_link.mark_frontend("0c1e-kernel", tmp_path)  # the page's heartbeat
    assert link.attached()
    with pytest.raises(ValueError):
        frontend_link.mark_frontend("../x", tmp_path)


def test_the_kernel_id_comes_from_the_connection_file(monkeypatch: pytest.MonkeyPatch) -> None:
    import ipykernel.connect

    monkeypatch.setattr(ipykernel.connect, "get_connection_file", lambda: "/run/kernel-3f2a-99.json")
    assert frontend_link.this_kernel_id() == "3f2a-99"
    monkeypatch.setattr(ipykernel.connect, "get_connection_file", lambda: "/run/odd.json")
    assert frontend_link.this_kernel_id() is None


def test_old_unread_answers_are_swept(tmp_path: Path) -> None:
    write_reply("b" * 32, {}, tmp_path)
    assert frontend_link.sweep_replies(tmp_path, max_age=3600) == 0
    assert frontend_link.sweep_replies(tmp_path, max_age=-1) == 1
