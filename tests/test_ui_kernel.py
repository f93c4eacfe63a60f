"""The widget renderer inside a real ipykernel: chosen automatically, few comm messages,
and replaced by the static transcript at the end; a notebook executed by nbclient
stores only the transcript."""

from __future__ import annotations

import queue
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.manager import KernelManager

pytestmark = pytest.mark.kernel

SANITIZE = Path(__file__).resolve().parent.parent / "notebooks" / "nbval_sanitize.cfg"

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
    assert set(shown["content"]["data"]) == {"application/vnd.jupyter.widget-view+json"}  # nbval skips it
    assert display_id
    # the live view goes by clear_output (which nbval applies too), just before the transcript
    assert not [m for m in messages if m["msg_type"] == "update_display_data"]
    clears = [i for i, m in enumerate(messages) if m["msg_type"] == "clear_output"]
    assert len(clears) == 1 and messages[clears[0]]["content"]["wait"] is True
    assert messages.index(shown) < clears[0] < messages.index(transcript)
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


NOTEBOOK_CELLS = [
    '%load_ext hermes_nb\n%config AgentMagics.model = "replay:script.json"',
    "%%agent\nSay hello.",
    'print("kept above the run")\n%agent retry',
]


def test_an_executed_notebook_keeps_only_the_transcript(tmp_path: Any) -> None:
    import json

    import nbformat
    from nbclient import NotebookClient

    (tmp_path / "script.json").write_text(json.dumps({"replies": ["Hello there."]}))
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in NOTEBOOK_CELLS])
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    ask, retry = nb.cells[1].outputs, nb.cells[2].outputs
    for outputs in (ask, retry):
        assert not [o for o in outputs if o.output_type == "error"], outputs
        for output in outputs:  # nothing empty, no dead widget view
            if output.output_type == "display_data":
                assert output.data.get("text/plain") or output.data.get("text/html"), output
                assert "application/vnd.jupyter.widget-view+json" not in output.data
    assert [o.output_type for o in ask] == ["display_data"]
    assert "Hello there." in ask[0].data["text/html"]
    # a line command's run shares its cell: what came before it stays
    assert [o.output_type for o in retry] == ["stream", "display_data"]
    assert "kept above the run" in retry[0].text and "Hello there." in retry[1].data["text/html"]

    # nbval, which ignores clear_output, finds the same outputs when it runs the notebook again
    del nb.cells[2]  # (it would not: it ignores display updates too; see WidgetRenderer.finish)
    again = tmp_path / "again"  # a fresh folder: no session from the first execution
    again.mkdir()
    (again / "script.json").write_text((tmp_path / "script.json").read_text())
    nb.cells[0].metadata["tags"] = ["nbval-ignore-output"]  # its notice names the folder
    nbformat.write(nb, again / "executed.ipynb")
    checked = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval", "--nbval-current-env",
         "--nbval-sanitize-with", str(SANITIZE), "-o", "addopts=", "-o", "testpaths=",
         "--rootdir", str(again), str(again / "executed.ipynb")],
        cwd=again, capture_output=True, text=True, timeout=300,
    )
    assert checked.returncode == 0, checked.stdout[-3000:]
