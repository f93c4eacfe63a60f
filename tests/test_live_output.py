"""What a running tool prints: kept only when the code wrote it, handed to the live
view as it is written, drawn bounded, from a thread other than the cell's."""

from __future__ import annotations

import io
import json
import re
import sys
import threading
import time
from typing import Any

from IPython.utils.capture import CapturedIO

from hermes_nb.agent.events import ToolCompleted, ToolStarted
from hermes_nb.agent.tools.capture import CodeStream, tapping
from hermes_nb.agent.tools.pyexec import run_python
from hermes_nb.kernel.view_pump import ViewPump
from hermes_nb.ui.live_output import LiveOutput, live_output_html
from hermes_nb.ui.widget import WidgetRenderer
from tests.ui_helpers import comm_log_fixture, displayed_fixture  # noqa: F401  (fixtures)


def test_writes_from_threads_already_running_are_not_the_codes() -> None:
    before = io.StringIO()
    go, written = threading.Event(), threading.Event()

    def kernel_thread() -> None:  # like the kernel's shell channel thread
        go.wait(10)
        stream.write("No such comm: 0123\n")
        written.set()

    other = threading.Thread(target=kernel_thread, daemon=True)
    other.start()
    tapped: list[tuple[str, str]] = []
    stream = CodeStream("stderr", before, lambda name, text: tapped.append((name, text)))
    stream.write("from the code\n")
    started = threading.Thread(target=lambda: stream.write("from a thread the code started\n"))
    started.start()
    started.join()
    go.set()
    assert written.wait(10)
    assert stream.getvalue() == "from the code\nfrom a thread the code started\n"
    assert before.getvalue() == "No such comm: 0123\n"
    assert tapped == [("stderr", "from the code\n"), ("stderr", "from a thread the code started\n")]


def test_the_python_tool_hands_each_print_to_the_tap_and_keeps_its_result() -> None:
    tapped: list[tuple[str, str]] = []
    with tapping(lambda name, text: tapped.append((name, text))):
        out = run_python("import sys\nprint('a')\nprint('b', file=sys.stderr)\n7", {})
    assert out.text == "[stdout]\na\n[stderr]\nb\n[result]\n7"
    assert [(n, t) for n, t in tapped if t.strip()] == [("stdout", "a"), ("stderr", "b")]
    assert run_python("print('untapped')", {}).text == "[stdout]\nuntapped"  # no tap outside the block


def test_a_tap_that_fails_stops_without_failing_the_code() -> None:
    def broken(name: str, text: str) -> None:
        raise RuntimeError("view gone")

    with tapping(broken):
        out = run_python("for i in range(3): print(i)", {})
    assert out.text == "[stdout]\n0\n1\n2" and not out.is_error


def test_live_output_keeps_the_latest_characters_and_counts_the_rest() -> None:
    live = LiveOutput(limit=100)
    for i in range(1000):
        live.add("stdout", f"line {i}\n")
    pieces, earlier = live.snapshot()
    text = "".join(t for _, t in pieces)
    assert text.endswith("line 999\n") and len(text) <= 100 + len("line 999\n")
    assert earlier + len(text) == live.total == sum(len(f"line {i}\n") for i in range(1000))
    live.add("stderr", "x" * 10_000)  # one huge write keeps its end only
    pieces, _ = live.snapshot()
    assert len("".join(t for _, t in pieces)) <= 100 + 100


def test_live_output_html_settles_progress_bars_escapes_and_marks_stderr() -> None:
    html = live_output_html(
        [("stdout", "epoch 1\n"), ("stderr", "\r 10%"), ("stderr", "\r 50%"), ("stderr", "\r100%\n"),
         ("stdout", "<script>alert(1)</script>\n")],
    )  # fmt: skip
    assert "epoch 1" in html and "100%" in html and " 10%" not in html and " 50%" not in html
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert '<span style="color:#d33;">100%\n</span>' in html
    assert "earlier" not in html
    assert live_output_html([]) == "" and live_output_html([("stdout", "")]) == ""


def test_live_output_html_shows_the_latest_lines_only() -> None:
    pieces = [("stdout", f"step {i}\n") for i in range(30)] + [("stderr", "warn a\nwarn b\n")]
    html = live_output_html(pieces, lines=5)
    shown = re.findall(r"step \d+|warn \w", re.sub(r"<[^>]+>", "", html))
    assert shown == ["step 27", "step 28", "step 29", "warn a", "warn b"]
    assert "… 27 earlier lines" in html
    dropped = live_output_html([("stdout", "last\n")], earlier=5000, lines=5)
    assert "earlier output not shown (5,005 characters in all)" in dropped


def live_widget(r: WidgetRenderer) -> Any:
    card = next(v for v in r._views if hasattr(v, "live"))
    return card.live


def test_the_card_shows_what_the_tool_prints_drawn_from_another_thread(
    comm_log: list[dict[str, Any]], displayed: CapturedIO
) -> None:
    r = WidgetRenderer("m")
    r.start()
    r.handle(ToolStarted("c1", "python", {"code": "train()"}))
    r.flush()
    live = live_widget(r)
    assert live.value == "" and live not in r.body.children  # nothing printed: no empty box
    printer = threading.Thread(target=lambda: [r.tool_output("c1", "stdout", f"step {i}\n") for i in range(5)])
    printer.start()
    printer.join()
    with ViewPump(r.flush, 0.01) as pump:
        deadline = time.monotonic() + 10
        while "step 4" not in live.value and time.monotonic() < deadline:
            time.sleep(0.01)
    assert pump.ticks >= 1
    assert "step 0" in live.value and "step 4" in live.value
    kinds = [type(c).__name__ for c in r.body.children]
    assert kinds == ["Accordion", "HTML"] and r.body.children[1] is live  # below its card, seen closed
    sent = len(comm_log)
    r.flush()
    assert len(comm_log) == sent  # nothing new printed: nothing sent
    r.handle(ToolCompleted("c1", "python", "[stdout]\nstep 0", 1.0))
    r.flush()
    assert live.value == "" and live not in r.body.children  # the result has it now
    r.tool_output("c1", "stdout", "late\n")  # a thread still printing after the call ended
    r.flush()
    assert live.value == ""


def test_the_pump_stops_ticking_when_the_tool_returns() -> None:
    ticks: list[float] = []
    with ViewPump(lambda: ticks.append(time.monotonic()), 0.01):
        time.sleep(0.2)
    stopped = len(ticks)
    time.sleep(0.1)
    assert stopped >= 3 and len(ticks) == stopped


def test_sys_streams_are_restored_after_the_tool() -> None:
    out, err = sys.stdout, sys.stderr
    with tapping(lambda name, text: None):
        run_python("print(1)", {})
    assert (sys.stdout, sys.stderr) == (out, err)


def test_the_runner_taps_each_tool_under_its_call_id_as_it_prints() -> None:
    from hermes_nb.agent.toolrun import ToolRunner
    from hermes_nb.agent.tools import builtin_tools

    seen: list[tuple[str, str, str, float]] = []
    runner = ToolRunner(builtin_tools(), {"shell": "allow"}, None, None, 20_000)
    runner.output_tap = lambda call_id, stream, text: seen.append((call_id, stream, text, time.monotonic()))
    command = "printf 'first\\n'; sleep 1; printf 'oops\\n' >&2; printf 'last\\n'"
    out = runner.run("shell", json.dumps({"command": command}), threading.Event(), "call_sh")
    ended = time.monotonic()
    assert out.text == "exit code: 0\n[stdout]\nfirst\nlast\n[stderr]\noops"
    first = next(at for cid, stream, text, at in seen if cid == "call_sh" and stream == "stdout" and "first" in text)
    assert ended - first > 0.5  # shown while the command was still running
    assert ("call_sh", "stderr", "oops\n") in [s[:3] for s in seen]
    seen.clear()
    out = runner.run("python", json.dumps({"code": "print('hi')"}), threading.Event(), "call_py")
    assert out.text == "[stdout]\nhi" and ("call_py", "stdout", "hi") in [s[:3] for s in seen]
