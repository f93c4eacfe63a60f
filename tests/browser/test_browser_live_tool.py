"""A long ``python`` tool seen in a real browser: the cell never looks frozen.

While a 20-second tool sleeps and prints, screenshots every few seconds show the
text before the call whole, the tool's output growing below its card and the
elapsed time moving, in JupyterLab and in Notebook 7. Screenshots: live-tool-*.png
and nb7-live-tool-*.png.
"""

from __future__ import annotations

import json
import re
import time
from itertools import pairwise
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
from ops_helpers import start_notebook7

pytestmark = [pytest.mark.browser, pytest.mark.kernel, pytest.mark.slow]

PRE_CALL = "I will train the model now; this takes a while."
TOOL_SECONDS = 20
SHOT_EVERY = 4.0

SCRIPT = {
    "replies": [
        {
            "chunks": [w + " " for w in PRE_CALL.split(" ")],
            "delay": 0.05,
            "tool_calls": [
                {
                    "name": "python",
                    "arguments": {
                        "code": (
                            "import sys, time\n"
                            f"for epoch in range({TOOL_SECONDS * 2}):\n"
                            "    time.sleep(0.5)\n"
                            "    print(f'epoch {epoch}: loss {1 / (epoch + 1):.3f}', flush=True)\n"
                            "    if epoch % 10 == 9:\n"
                            "        print(f'checkpoint {epoch} saved', file=sys.stderr)\n"
                            "'trained'"
                        )
                    },
                }
            ],
        },
        "Training finished.",
    ]
}

LIVE_OUTPUT = ".hermes-nb-live-output"
STATUS = ".hermes-nb-status"


def epochs_shown(page: Any) -> int:
    """The latest epoch the card's live output shows (-1 before any)."""
    boxes = page.locator(LIVE_OUTPUT)
    if boxes.count() == 0:
        return -1
    return max((int(n) for n in re.findall(r"epoch (\d+): loss", boxes.first.inner_text())), default=-1)


def seconds_shown(page: Any) -> int | None:
    status = page.locator(STATUS)
    if status.count() == 0:
        return None
    found = re.search(r"(\d+)s · running", status.first.inner_text())
    return int(found.group(1)) if found else None


def watch_the_tool(page: Any, prefix: str) -> list[tuple[int, int | None]]:
    """Screenshots every few seconds while the tool runs; (latest epoch shown, elapsed) at each."""
    page.locator(LIVE_OUTPUT).first.wait_for(timeout=90_000)  # the tool printed its first line
    seen: list[tuple[int, int | None]] = []
    for n in range(1, 5):
        seen.append((epochs_shown(page), seconds_shown(page)))
        assert PRE_CALL in page.locator(".jp-OutputArea-output").first.inner_text()
        assert "running" in page.locator(".jp-OutputArea-output .widget-accordion, "
                                          ".jp-OutputArea-output .jupyter-widget-Accordion").first.inner_text()
        shot(page, f"{prefix}-{n:02d}-running")
        time.sleep(SHOT_EVERY)
    page.get_by_text("Training finished.").first.wait_for(timeout=120_000)
    wait_kernel_idle(page)
    shot(page, f"{prefix}-05-done")
    return seen


def check(seen: list[tuple[int, int | None]], page: Any) -> None:
    epochs = [e for e, _ in seen]
    seconds = [-1 if s is None else s for _, s in seen]
    assert min(epochs) >= 0 and all(b > a for a, b in pairwise(epochs)), seen  # new lines at every shot
    assert min(seconds) >= 0 and all(b > a for a, b in pairwise(seconds)), seen  # the clock moves
    assert page.locator(LIVE_OUTPUT).count() == 0  # gone with the live view: the result has it
    output = page.locator(".jp-OutputArea-output").first.inner_text()
    assert "Training finished." in output and "python" in output
    assert page.get_by_text("Error displaying widget").count() == 0


def test_a_long_tool_streams_its_output_and_the_clock_moves_in_jupyterlab(lab: LabServer, page: Any) -> None:
    (lab.root / "livetool.json").write_text(json.dumps(SCRIPT))
    write_notebook(lab.root / "livetool.ipynb", [replay_setup("livetool.json"), "%%agent\nTrain the model."])
    open_notebook(page, lab, "livetool.ipynb")
    command(page, "notebook:run-all-cells")
    seen = watch_the_tool(page, "live-tool")
    check(seen, page)
    assert not page.errors  # type: ignore[attr-defined]


def test_a_long_tool_streams_its_output_and_the_clock_moves_in_notebook7(lab: LabServer, page: Any) -> None:
    errors = start_notebook7(lab, page, "nb7livetool", SCRIPT, ["%%agent\nTrain the model."])
    command(page, "notebook:run-all-cells")
    seen = watch_the_tool(page, "nb7-live-tool")
    check(seen, page)
    assert errors == []
