"""The interrupt tests pass however the test runner was started.

A runner started in the background (``cmd &`` in a script, ``nohup`` from some
shells, CI agents) inherits SIGINT *ignored*; then ``_thread.interrupt_main`` does
nothing and a kernel started from it inherits the ignored signal. The fixtures put
Python's usual SIGINT handling back (tests/conftest.py, kernel_harness.default_sigint);
this runs the interrupt tests in a pytest started exactly that way.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

INTERRUPT_TESTS = [
    "tests/test_magics.py::test_an_interrupt_cancels_the_run_and_keeps_the_partial_text",
    "tests/test_streaming.py::test_interrupt_mid_text_cancels_and_keeps_partial_text",
    "tests/test_streaming.py::test_interrupt_during_a_kernel_tool_gives_the_call_a_result",
    "tests/test_kernel.py::test_interrupting_the_kernel_mid_stream_keeps_the_partial_text",
]

IGNORING_SIGINT = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); "
    "os.execvp(sys.executable, [sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', *sys.argv[1:]])"
)


@pytest.mark.kernel
@pytest.mark.slow
def test_interrupt_tests_pass_with_sigint_ignored_by_the_runner() -> None:
    done = subprocess.run(
        [sys.executable, "-c", IGNORING_SIGINT, *INTERRUPT_TESTS],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert f"{len(INTERRUPT_TESTS)} passed" in done.stdout
