"""Thin tornado handlers: parse a request, call ``api`` off the event loop, write JSON.

Every verb is authenticated (``APIHandler`` also checks XSRF for anything but GET)
and authorized by the server's ``Authorizer`` on the resource ``contents``: reading
a session is a read, deleting one a write, as for the notebook files beside them.

Reading and drawing a session can take seconds for a large one, and the event loop
also serves every kernel and save of this server; so the work runs in a small pool
of threads (two: a burst of requests waits its turn instead of multiplying memory),
and the loop only writes the answer.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import quote

import tornado.iostream
import tornado.web
from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join

from hermes_nb.serverext import api
from hermes_nb.serverext.find_run import find_run
from hermes_nb.serverext.link_handlers import link_handlers
from hermes_nb.serverext.places import ApiError
from hermes_nb.serverext.render import MAX_PAGE, PAGE

__all__ = ["setup_handlers"]

log = logging.getLogger("hermes_nb.serverext")

_ID = r"([A-Za-z0-9_-]{1,64})"
_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="hermes-nb-serverext")
T = TypeVar("T")


async def off_loop(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in the pool; an ``ApiError`` becomes its HTTP answer."""
    loop = asyncio.get_running_loop()
    try:
        return await loop.run_in_executor(_POOL, functools.partial(fn, *args))
    except ApiError as err:
        raise tornado.web.HTTPError(err.status, err.message, reason=err.message) from None


class _Base(APIHandler):
    auth_resource = "contents"

    def initialize(self, root_dir: str) -> None:
        self.root_dir = root_dir

    def notebook(self) -> str | None:
        return self.get_query_argument("notebook", None)

    def count(self, name: str, default: int | None, high: int) -> int | None:
        """A whole-number query argument from 0 to ``high``; 400 otherwise."""
        raw = self.get_query_argument(name, None)
        if raw is None or raw == "":
            return default
        if not raw.isascii() or not raw.isdigit() or len(raw) > 9 or int(raw) > high:
            message = f"{name} must be a whole number from 0 to {high}"
            raise tornado.web.HTTPError(400, message, reason=message)
        return int(raw)

    async def answer(self, fn: Callable[..., Any], *args: Any) -> None:
        root, notebook = self.root_dir, self.notebook()

        def body() -> str:
            return json.dumps(fn(root, notebook, *args))

        text = await off_loop(body)
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.finish(text)


class SessionsHandler(_Base):
    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        all_ = self.get_query_argument("all", "") in ("1", "true")
        body = await off_loop(api.list_sessions_body, self.root_dir, self.notebook(), all_)
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.finish(body)


class SessionHandler(_Base):
    @tornado.web.authenticated
    @authorized
    async def get(self, session_id: str) -> None:
        offset = self.count("offset", None, 1 << 30)
        limit = self.count("limit", PAGE, MAX_PAGE) or PAGE
        await self.answer(api.get_session, session_id, offset, limit)

    @tornado.web.authenticated
    @authorized
    async def delete(self, session_id: str) -> None:
        await self.answer(api.delete_session, session_id)


class RunHandler(_Base):
    @tornado.web.authenticated
    @authorized
    async def get(self, session_id: str, run_id: str) -> None:
        await self.answer(api.get_run, session_id, run_id)


class InterruptedHandler(_Base):
    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        await self.answer(api.interrupted_runs)


class FindRunHandler(_Base):
    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        await self.answer(find_run, self.get_query_argument("request", None))


class ExportHandler(_Base):
    @tornado.web.authenticated
    @authorized
    async def get(self, session_id: str) -> None:
        fmt = self.get_query_argument("format", "md")
        name, content_type, chunks = await off_loop(
            api.export_chunks, self.root_dir, self.notebook(), session_id, fmt
        )
        self.set_header("Content-Type", content_type)
        self.set_header("Content-Disposition", f"attachment; filename*=UTF-8''{quote(name)}")
        self.set_header("Cache-Control", "no-store")
        await self._stream(chunks)

    async def _stream(self, chunks: Iterator[bytes]) -> None:
        """Draw each chunk in the pool and send it before drawing the next: the whole
        export is never held in memory."""
        while True:
            chunk = await off_loop(next, chunks, None)
            if chunk is None:
                break
            self.write(chunk)
            try:
                await self.flush()
            except tornado.iostream.StreamClosedError:
                log.debug("export of %s: the client went away", self.request.path)
                return
        self.finish()


def setup_handlers(web_app: Any, root_dir: str) -> None:
    base = url_path_join(web_app.settings["base_url"], "hermes-nb")
    kwargs = {"root_dir": root_dir}
    web_app.add_handlers(
        ".*$",
        [
            (url_path_join(base, "sessions"), SessionsHandler, kwargs),
            (url_path_join(base, "sessions", _ID), SessionHandler, kwargs),
            (url_path_join(base, "sessions", _ID, "runs", _ID), RunHandler, kwargs),
            (url_path_join(base, "sessions", _ID, "export"), ExportHandler, kwargs),
            (url_path_join(base, "interrupted"), InterruptedHandler, kwargs),
            (url_path_join(base, "runs"), FindRunHandler, kwargs),
            *link_handlers(base),
        ],
    )
