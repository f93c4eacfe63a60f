"""The widget renderer inside a real ipykernel: chosen automatically, few comm messages,
and replaced by the static transcript at the end."""

from __future__ import annotations

import queue
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from jupyter_client.manager import KernelManager

pytestmark = pytest.mark.kernel

RUN = """
from hermes_nb.ui import choose_renderer
from hermes_nb.agent.events import Token, ToolStarted, ToolCompleted, Usage, Done
r = choose_renderer("test:model")
print(type(r).__name__)
r.start()
for i in range(2000):
    r.handle(Token(f"w{i} " + ("\\n\\n" if i % 50 == 49 else "")))
    if i == 1000:
        r.handle(ToolStarted("c1", "python", {"code": "1 + 1"}))
        r.flush()
        r.show_tool_outputs("c1", [{"data": {"text/plain": "figure-ish"}, "metadata": {}}])
        r.handle(ToolCompleted("c1", "python", "2", 0.05))
    if i % 100 == 99:
        r.flush()
r.handle(Usage(10, 2000))
r.handle(Done())
r.finish()
print("updates", r.updates_sent)
"""


@pytest.fixture(scope="module")
def kernel() -> Iterator[Any]:
    km = KernelManager(kernel_name="python3")
    km.start_kernel(extra_arguments=["--HistoryManager.enabled=False"])
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=60)
    try:
        yield kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def execute(kc: Any, code: str, timeout: float = 60) -> list[dict[str, Any]]:
    """Run ``code``; return its iopub messages up to idle."""
    msg_id = kc.execute(code)
    messages = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            msg = kc.get_iopub_msg(timeout=1)
        except queue.Empty:
            continue
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        messages.append(msg)
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return messages
    raise AssertionError("execution did not finish")


def test_widget_run_in_kernel(kernel: Any) -> None:
    messages = execute(kernel, RUN)
    types = Counter(m["msg_type"] for m in messages)
    stdout = "".join(m["content"]["text"] for m in messages if m["msg_type"] == "stream")
    errors = [m["content"] for m in messages if m["msg_type"] == "error"]
    assert not errors, errors
    assert stdout.startswith("WidgetRenderer\n")  # auto mode picks widgets in a kernel
    assert 0 < types["comm_msg"] < 80  # 2,000 tokens, never one message per token
    assert types["display_data"] == 2  # the live widget view, then the transcript
    shown, transcript = [m for m in messages if m["msg_type"] == "display_data"]
    display_id = shown["content"]["transient"]["display_id"]
    assert "application/vnd.jupyter.widget-view+json" in shown["content"]["data"]
    assert shown["content"]["data"]["text/plain"] == ""  # fixed, comparable text
    emptied = [m for m in messages if m["msg_type"] == "update_display_data"]
    assert len(emptied) == 1 and emptied[0]["content"]["data"] == {"text/plain": ""}
    assert emptied[0]["content"]["transient"]["display_id"] == display_id
    data = transcript["content"]["data"]
    assert "w0" in data["text/plain"] and "w1999" in data["text/plain"]
    assert "w1999" in data["text/html"] and "<details" in data["text/html"]
    assert "figure-ish" in data["text/html"]  # the tool's output is in its card
    closes = [
        m
        for m in messages
        if m["msg_type"] == "comm_close"
        or (m["msg_type"] == "comm_msg" and m["content"]["data"].get("method") == "close")
    ]
    assert closes  # widgets were closed after the transcript replaced them
