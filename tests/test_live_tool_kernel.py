"""While the ``python`` tool runs on the kernel's main thread, the cell's view keeps
moving (real kernel): what the code prints reaches its card as it is printed, elapsed
time advances, the text before the call is whole, the widget message rate stays
within the batching limit, and the tool's result holds only what the code printed."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from disk_view import sessions_in
from kernel_harness import Execution, Kernel

pytestmark = pytest.mark.kernel

NOTEBOOK = "live.ipynb"
PRE_CALL_TEXT = "Let me run the long computation now."

#: a line every 0.1 s for 3 s, a line on stderr every second
PRINTING_CODE = (
    "import sys, time\n"
    "for i in range(30):\n"
    "    print(f'line {i}', flush=True)\n"
    "    if i % 10 == 9:\n"
    "        print(f'warn {i}', file=sys.stderr)\n"
    "    time.sleep(0.1)\n"
    "'tool finished'"
)


def start(tmp_path: Path, code: str, tool: str = "python") -> Kernel:
    (tmp_path / NOTEBOOK).write_text("{}")
    words = PRE_CALL_TEXT.split(" ")
    script = {
        "replies": [
            {
                "chunks": [w + " " for w in words[:-1]] + [words[-1]],
                "delay": 0.03,
                "tool_calls": [{"name": tool, "arguments": {"code" if tool == "python" else "command": code}}],
            },
            "Done.",
        ]
    }
    (tmp_path / "script.json").write_text(json.dumps(script))
    k = Kernel(tmp_path, {"JPY_SESSION_NAME": str(tmp_path / NOTEBOOK)})
    k.start()
    loaded = k.run(
        '%load_ext hermes_nb\n%config AgentMagics.model = "replay:script.json"\n%config AgentMagics.auto_title = False\n'
        '%config AgentMagics.tool_policies = {"shell": "allow"}'
    )
    assert loaded.status == "ok", loaded.text()
    return k


def updates(ex: Execution) -> list[tuple[float, dict[str, Any]]]:
    """(arrival time, state) of each widget update message."""
    out = []
    for at, raw in ex.comm_log:
        data = json.loads(raw) or {}
        if data.get("method") == "update":
            out.append((at, data.get("state") or {}))
    return out


def tool_end(ex: Execution) -> float:
    """When the card's title turned to done: the tool had returned."""
    for at, state in updates(ex):
        if any("✓ done" in str(t) for t in state.get("titles") or ()):
            return at
    raise AssertionError("the card never showed the call as done")


def tool_result(tmp_path: Path) -> str:
    [saved] = sessions_in(tmp_path / ".hermes_nb" / "sessions")
    [result] = [m["content"] for m in saved["messages"] if m.get("role") == "tool"]
    return str(result)


def test_a_running_tool_streams_what_it_prints_and_the_clock_moves(tmp_path: Path) -> None:
    k = start(tmp_path, PRINTING_CODE)
    try:
        ex = k.run("%%agent\nRun the long computation.", timeout=120)
    finally:
        k.shutdown()
    assert ex.status == "ok", ex.text()
    end = tool_end(ex)
    before_end = [(at, s) for at, s in updates(ex) if at < end]
    live = [(at, str(s["value"])) for at, s in before_end if "hermes-nb-live-output" in str(s.get("value", ""))]
    # the printed lines arrive while the tool runs, a few at a time, in order
    assert len(live) >= 10, len(live)
    first_line_at = next(at for at, v in live if "line 0" in v)
    assert end - first_line_at > 2.0  # seen long before the tool's end
    assert any("line 15" in v and "line 29" not in v for _, v in live)
    assert any("warn 9" in v and "color:#d33" in v for _, v in live)  # stderr, marked
    # the status line's elapsed seconds count on during the call
    seconds = [
        int(m.group(1))
        for _, s in before_end
        for m in [re.search(r'hermes-nb-volatile">(\d+)s</span> · running', str(s.get("value", "")))]
        if m is not None
    ]
    assert len(set(seconds)) >= 3 and max(seconds) >= 2, seconds
    # the text before the call was drawn whole before the tool printed anything
    assert any(PRE_CALL_TEXT in str(s.get("value", "")) for at, s in before_end if at < first_line_at)
    # within the batching limit: at most ~25 widget messages in any second of the call
    times = [at for at, _ in ex.comm_log if first_line_at <= at < end]
    busiest = max(sum(1 for t in times if a <= t < a + 1.0) for a in times)
    assert busiest <= 25, busiest
    # the live output leaves with the tool: the result has it all
    after = [s for at, s in updates(ex) if at >= end]
    assert any(s.get("value") == "" for s in after)
    result = tool_result(tmp_path)
    assert result.startswith("[stdout]\nline 0\nline 1\n") and "line 29" in result
    assert "[stderr]\nwarn 9\nwarn 19\nwarn 29" in result and result.endswith("[result]\n'tool finished'")


def test_a_kernel_warning_during_a_tool_is_not_part_of_its_result(tmp_path: Path) -> None:
    """A closed page's widget messages make the kernel log "No such comm" on stderr from
    its shell channel thread, while the tool has stderr redirected."""
    code = (
        "import threading, time, sys\n"
        "time.sleep(1.5)\n"
        "t = threading.Thread(target=lambda: print('from a thread the code started', file=sys.stderr))\n"
        "t.start(); t.join()\n"
        "print('done waiting')\n"
        "'tool finished'"
    )
    k = start(tmp_path, code)
    try:
        ex = k.submit("%%agent\nWait a little.")
        time.sleep(0.8)  # the tool is running
        for _ in range(3):
            k.kc.shell_channel.send(k.kc.session.msg("comm_msg", {"comm_id": "0123456789abcdef", "data": {}}))
        k.collect(ex, timeout=120)
    finally:
        k.shutdown()
    assert ex.status == "ok", ex.text()
    result = tool_result(tmp_path)
    assert "No such comm" not in result
    assert result == (
        "[stdout]\ndone waiting\n[stderr]\nfrom a thread the code started\n[result]\n'tool finished'"
    )


def test_a_running_shell_command_streams_into_its_card_too(tmp_path: Path) -> None:
    k = start(tmp_path, "for i in $(seq 0 19); do echo row $i; sleep 0.1; done", tool="shell")
    try:
        ex = k.run("%%agent\nList the rows.", timeout=120)
    finally:
        k.shutdown()
    assert ex.status == "ok", ex.text()
    end = tool_end(ex)
    live = [(at, str(s["value"])) for at, s in updates(ex) if at < end and "hermes-nb-live-output" in str(s.get("value", ""))]
    assert any("row 0" in v for _, v in live) and any("row 10" in v for _, v in live)
    assert end - next(at for at, v in live if "row 0" in v) > 1.0
    assert tool_result(tmp_path).startswith("exit code: 0\n[stdout]\nrow 0\nrow 1\n")
