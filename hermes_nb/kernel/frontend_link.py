"""A round trip from a running ``%%agent`` cell to the JupyterLab page and back.

The cell blocks the kernel's shell channel, so the page cannot answer over a comm
or a widget while the cell runs (DESIGN.md). Messages *from* the kernel still go
out (iopub), so a request goes out as a ``hermes_nb.ops`` comm, and the page's
answer comes back through the Jupyter server: the page POSTs it to
``hermes-nb/replies/<id>``, the server writes ``<runtime dir>/hermes_nb/replies/<id>.json``
and the kernel, which started from that server's environment, finds the file (the files:
``hermes_nb.ui.page_replies``, shared with the server extension).

The first file written under an id wins (``os.link`` of a complete temp file), so
several tabs answering one request, or a page answering after the kernel gave up,
can never overwrite an answer: when the kernel stops waiting it writes a "gone"
answer itself, and a late POST is refused. Nothing the page sends names a path: ids
are checked against a strict pattern.

A page that shows notebooks on a kernel says so with ``POST hermes-nb/frontends/<kernel id>``,
a marker file the kernel checks before asking (nbclient, VS Code and terminal IPython
never wait for an answer that cannot come).
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hermes_nb.ui.page_replies import (
    KERNEL_ID,
    MAX_REPLY_BYTES,
    REPLY_ID,
    REPLY_MAX_AGE,
    frontends_dir,
    link_folder,
    mark_frontend,
    read_reply,
    replies_dir,
    sweep_replies,
    write_reply,
)

__all__ = [
    "COMM_TARGET",
    "KERNEL_ID",
    "MAX_REPLY_BYTES",
    "REPLY_ID",
    "REPLY_MAX_AGE",
    "FrontendLink",
    "Reply",
    "frontends_dir",
    "link_folder",
    "mark_frontend",
    "read_reply",
    "replies_dir",
    "sweep_replies",
    "this_kernel_id",
    "write_reply",
]

log = logging.getLogger("hermes_nb.kernel.frontend_link")

COMM_TARGET = "hermes_nb.ops"
#: seconds a page's marker counts: an open page renews it every minute, a closed one stops
MARKER_TTL = 180.0
#: how often a wait with no time limit looks whether the page is still there
PRESENCE_CHECK = 5.0
#: why a wait ended when the page that was there stopped renewing its marker
PAGE_GONE = "the JupyterLab page stopped answering (its tab was closed or lost its server)"
_POLL = 0.02


def this_kernel_id() -> str | None:
    """This kernel's id, from its connection file ``kernel-<id>.json``; None outside one."""
    try:
        from ipykernel.connect import get_connection_file

        name = Path(get_connection_file()).name
    except Exception:  # not in a kernel
        return None
    match = re.match(r"^kernel-(.+)\.json$", name)
    return match.group(1) if match and KERNEL_ID.match(match.group(1)) else None


@dataclass(frozen=True)
class Reply:
    """What came back: ``data`` the page's answer, or None with ``why`` (timeout, cancelled)."""

    data: dict[str, Any] | None
    why: str = ""
    seconds: float = 0.0


class FrontendLink:
    """Ask the JupyterLab page something and wait for its answer (cell thread only: it
    opens a comm, and only the cell thread receives the Stop button's interrupt)."""

    def __init__(self, kernel_id: str | None = None, base: Path | None = None) -> None:
        self._kernel_id = kernel_id
        self._base = base

    @property
    def kernel_id(self) -> str | None:
        if self._kernel_id is None:
            self._kernel_id = this_kernel_id()
        return self._kernel_id

    def attached(self) -> bool:
        """A page said, within the last three minutes, that it shows a notebook on this
        kernel (cheap: one ``stat``). A closed tab's marker goes stale, so the kernel
        stops waiting for a page that is gone."""
        kid = self.kernel_id
        if not kid:
            return False
        try:
            seen = (frontends_dir(self._base) / kid).stat().st_mtime
        except OSError:
            return False
        return time.time() - seen < MARKER_TTL

    def ask(
        self,
        op: str,
        data: dict[str, Any],
        timeout: float | None,
        cancel: threading.Event | None = None,
        *,
        shown_timeout: float | None = None,
    ) -> Reply:
        """Send ``op`` and wait for the answer, ``timeout`` seconds (None: until Stop).

        With ``shown_timeout`` the page must first confirm that it shows the request
        (an ``ack``) within that time, else nobody is there to answer. On timeout,
        cancel or interrupt the request is closed and its id claimed, so a late
        answer is refused and the page takes its question away.
        """
        reply_id, ack_id = secrets.token_hex(16), secrets.token_hex(16)
        message = {**data, "op": op, "reply_id": reply_id}
        if shown_timeout is not None:
            message["ack_id"] = ack_id
        comm = _open(message)
        if comm is None:
            return Reply(None, "the request could not be sent (no comm in this kernel)")
        started = time.monotonic()
        try:
            if shown_timeout is not None:
                ack = self._wait(ack_id, shown_timeout, cancel)
                if ack.data is None:
                    return self._give_up(reply_id, ack.why, started, ack_id)
            reply = self._wait(reply_id, timeout, cancel)
            if reply.data is None:
                return self._give_up(reply_id, reply.why, started, ack_id)
            return Reply(reply.data, seconds=time.monotonic() - started)
        except KeyboardInterrupt as exc:
            late = self._give_up(reply_id, "interrupted", started, ack_id)
            if late.data is not None:  # answered at the very moment of the interrupt
                exc.reply = late  # type: ignore[attr-defined]
            raise
        finally:
            _close(comm)  # the page takes its question away

    def _wait(self, reply_id: str, timeout: float | None, cancel: threading.Event | None) -> Reply:
        """Poll for the answer. A wait with no time limit (a diff the user is looking
        at) ends when the page that was there when it began stops renewing its marker:
        a closed tab must not hold the run until Stop."""
        deadline = None if timeout is None else time.monotonic() + timeout
        watch = timeout is None and self.attached()
        check = time.monotonic() + PRESENCE_CHECK
        while True:
            data = read_reply(reply_id, self._base)
            if data is not None:
                return Reply(data)
            if cancel is not None and cancel.is_set():
                return Reply(None, "cancelled")
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                return Reply(None, "timeout")
            if watch and now >= check:
                if not self.attached():
                    return Reply(None, PAGE_GONE)
                check = now + PRESENCE_CHECK
            time.sleep(_POLL)

    def _give_up(self, reply_id: str, why: str, started: float, ack_id: str) -> Reply:
        """Claim the ids so no later answer counts (the claims stay until swept: a
        removed claim would let a late answer in); an answer that won the race is used."""
        write_reply(ack_id, {"status": "gone", "why": why}, self._base)
        if write_reply(reply_id, {"status": "gone", "why": why}, self._base):
            return Reply(None, why, time.monotonic() - started)
        return Reply(read_reply(reply_id, self._base), seconds=time.monotonic() - started)


def _open(message: dict[str, Any]) -> Any:
    try:
        import comm

        return comm.create_comm(target_name=COMM_TARGET, data=message)
    except Exception:
        log.debug("ops comm not opened", exc_info=True)
        return None


def _close(handle: Any) -> None:
    try:
        handle.close()
    except Exception:
        log.debug("ops comm close failed", exc_info=True)
