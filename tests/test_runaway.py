"""Runaway tools: what a tool prints is bounded (head and tail kept), and a stop is quick."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from kernel_harness import kernel, kernel_env, load, sessions
from sse_server import ServerProcess, text_reply, tool_reply
from waiting import wait_for

from hermes_nb.agent.tools.builtin import run_shell
from hermes_nb.agent.tools.capture import HEAD_CHARS, TAIL_CHARS, BoundedBytes, BoundedText
from hermes_nb.agent.tools.pyexec import MAX_OUTPUTS, run_python
from hermes_nb.agent.tools.registry import Tool

LIMIT = HEAD_CHARS + TAIL_CHARS + 200  # kept text plus the note between


def test_bounded_text_keeps_the_start_and_the_end_and_counts_the_rest() -> None:
    stream = BoundedText(head=10, tail=10)
    for i in range(1000):
        stream.write(f"{i:04d}\n")
    value = stream.getvalue()
    assert value.startswith("0000\n0001\n")
    assert value.endswith("0998\n0999\n")
    assert "4,980 characters of output dropped" in value
    assert stream.total == 5000


def test_one_huge_write_keeps_its_start_and_end() -> None:
    buffer = BoundedBytes(head=5, tail=5)
    buffer.add(b"start" + b"x" * 1_000_000 + b"end!!")
    text = buffer.text()
    assert text.startswith("start") and text.endswith("end!!") and "1,000,000 bytes" in text


def test_a_python_print_loop_keeps_the_head_and_tail_of_its_output() -> None:
    out = run_python("for i in range(300_000):\n    print('line', i)", {})
    assert len(out.text) < LIMIT
    assert "line 0\nline 1\n" in out.text and out.text.rstrip().endswith("line 299999")
    assert "characters of output dropped" in out.text


def test_many_displays_are_counted_not_kept() -> None:
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    try:
        code = "from IPython.display import display, Markdown\nfor i in range(500): display(Markdown(f'**{i}**'))"
        out = run_python(code, shell.user_ns)
    finally:
        InteractiveShell.clear_instance()
    assert len(out.outputs) == MAX_OUTPUTS
    assert f"[450 more displays not kept; only the first {MAX_OUTPUTS} are]" in out.text


def test_a_shell_command_writing_a_flood_keeps_head_and_tail() -> None:
    out = run_shell("yes | head -c 30000000; echo; echo the-end", timeout=60)
    assert len(out.text) < LIMIT
    assert out.text.startswith("exit code: 0\n[stdout]\ny\ny\n")
    assert out.text.rstrip().endswith("the-end")
    assert "bytes of output dropped" in out.text


def test_a_flooding_shell_command_is_cancelled_promptly() -> None:
    cancel = threading.Event()
    tool = Tool.from_function(lambda: run_shell("yes", timeout=60), name="flood")
    box: list[Any] = []
    worker = threading.Thread(target=lambda: box.append(tool.call({}, cancel)))
    worker.start()
    time.sleep(1.0)
    stopped = time.monotonic()
    cancel.set()
    worker.join(10)
    assert not worker.is_alive() and time.monotonic() - stopped < 5
    assert "Cancelled by the user" in box[0].text


@pytest.mark.kernel
def test_the_stop_button_ends_a_runaway_print_loop_quickly_with_bounded_memory(tmp_path: Path) -> None:
    replies = [
        tool_reply([("call_1", "python", {"code": "i = 0\nwhile True:\n    print('runaway line', i)\n    i += 1"})]),
        text_reply("Stopped."),
    ]
    with ServerProcess(replies) as server, kernel(tmp_path, kernel_env(server, tmp_path)) as k:
        load(k)
        before = int(k.run("import resource; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)").stdout.split()[-1])
        running = k.submit("%%agent\nPrint forever.")
        wait_for(
            lambda: any(s.get("pending_messages") for s in sessions(tmp_path)),
            what="the python call to start",
        )
        time.sleep(3)
        stopped = time.monotonic()
        k.interrupt()
        k.collect(running, timeout=60)
        took = time.monotonic() - stopped
        after = int(k.run("print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)").stdout.split()[-1])
        assert took < 10, f"the cell returned {took:.1f} s after the stop button"
        assert (after - before) * 1024 < 300 * 2**20, f"peak memory grew by {(after - before) // 1024} MB"
        [saved] = sessions(tmp_path)
        assert saved["active_stream_id"] is None
        [result] = [m for m in saved["messages"] if m["role"] == "tool"]
        assert "runaway line 0\n" in result["content"] and "stopped by the user" in result["content"]
        assert "characters of output dropped" in result["content"]
        assert len(json.dumps(saved)) < 200_000
        assert k.run("print(6 * 7)").stdout.strip() == "42"
