"""The page's side of the kernel round trip (``hermes_nb.ui.page_replies``).

``POST hermes-nb/replies/<id>``: the page's answer to a request a running cell made;
written to the runtime folder, first answer wins (409 for a later one, which tells
the page its answer was not taken). ``POST hermes-nb/frontends/<kernel id>``: this
page shows a notebook on that kernel. Both authenticated, with XSRF (``APIHandler``),
and authorized as a write on the resource ``kernels``: an answer is acted on by the
running kernel (a cell inserted, a file edited), which a user who may only read must
not cause.
"""

from __future__ import annotations

import json
from typing import Any

import tornado.web
from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join

from hermes_nb.ui import page_replies

__all__ = ["link_handlers"]


class ReplyHandler(APIHandler):
    auth_resource = "kernels"

    @tornado.web.authenticated
    @authorized
    def post(self, reply_id: str) -> None:
        if len(self.request.body) > page_replies.MAX_REPLY_BYTES:
            raise tornado.web.HTTPError(413, "reply too large", reason="reply too large")
        try:
            payload = json.loads(self.request.body or b"null")
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            raise tornado.web.HTTPError(400, "the reply must be a JSON object", reason="bad reply")
        page_replies.sweep_replies()
        if not page_replies.write_reply(reply_id, payload):
            raise tornado.web.HTTPError(409, "already answered", reason="already answered")
        self.set_status(201)
        self.finish(json.dumps({"reply_id": reply_id}))


class FrontendHandler(APIHandler):
    auth_resource = "kernels"

    @tornado.web.authenticated
    @authorized
    def post(self, kernel_id: str) -> None:
        if kernel_id not in self.kernel_manager:
            raise tornado.web.HTTPError(404, "no such kernel", reason="no such kernel")
        page_replies.mark_frontend(kernel_id)
        self.finish(json.dumps({"kernel_id": kernel_id}))


def link_handlers(base: str) -> list[tuple[str, Any, dict[str, Any]]]:
    """The routes, under ``base`` (``<base_url>hermes-nb``)."""
    return [
        (url_path_join(base, "replies", r"([0-9a-f]{32})"), ReplyHandler, {}),
        (url_path_join(base, "frontends", r"([A-Za-z0-9][A-Za-z0-9_-]{0,63})"), FrontendHandler, {}),
    ]
