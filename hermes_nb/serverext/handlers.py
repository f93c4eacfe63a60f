"""Thin tornado handlers: parse a request, call ``api``, write JSON. Every verb is
authenticated (``APIHandler`` also checks XSRF for anything but GET)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import tornado.web
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join

from hermes_nb.serverext import api
from hermes_nb.serverext.link_handlers import link_handlers
from hermes_nb.serverext.places import ApiError

__all__ = ["setup_handlers"]

_ID = r"([A-Za-z0-9_-]{1,64})"


class _Base(APIHandler):
    def initialize(self, root_dir: str) -> None:
        self.root_dir = root_dir

    def notebook(self) -> str | None:
        return self.get_query_argument("notebook", None)

    def answer(self, fn: Any, *args: Any) -> None:
        try:
            result = fn(self.root_dir, self.notebook(), *args)
        except ApiError as err:
            raise tornado.web.HTTPError(err.status, err.message, reason=err.message) from None
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(result))


class SessionsHandler(_Base):
    @tornado.web.authenticated
    def get(self) -> None:
        all_ = self.get_query_argument("all", "") in ("1", "true")
        try:
            body = api.list_sessions_body(self.root_dir, self.notebook(), all_)
        except ApiError as err:
            raise tornado.web.HTTPError(err.status, err.message, reason=err.message) from None
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.finish(body)


class SessionHandler(_Base):
    @tornado.web.authenticated
    def get(self, session_id: str) -> None:
        self.answer(api.get_session, session_id)

    @tornado.web.authenticated
    def delete(self, session_id: str) -> None:
        self.answer(api.delete_session, session_id)


class RunHandler(_Base):
    @tornado.web.authenticated
    def get(self, session_id: str, run_id: str) -> None:
        self.answer(api.get_run, session_id, run_id)


class InterruptedHandler(_Base):
    @tornado.web.authenticated
    def get(self) -> None:
        self.answer(api.interrupted_runs)


class ExportHandler(_Base):
    @tornado.web.authenticated
    def get(self, session_id: str) -> None:
        fmt = self.get_query_argument("format", "md")
        try:
            name, content_type, body = api.export_session(
                self.root_dir, self.notebook(), session_id, fmt
            )
        except ApiError as err:
            raise tornado.web.HTTPError(err.status, err.message, reason=err.message) from None
        self.set_header("Content-Type", content_type)
        self.set_header("Content-Disposition", f"attachment; filename*=UTF-8''{quote(name)}")
        self.set_header("Cache-Control", "no-store")
        self.finish(body)


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
            *link_handlers(base),
        ],
    )
