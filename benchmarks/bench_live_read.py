"""The live notebook round trip: kernel -> page (ops comm) -> server (POST) -> kernel.

Run: ``python benchmarks/bench_live_read.py`` (about a minute: it starts ``jupyter lab``
on 127.0.0.1 and Debian's chromium through Playwright, as the browser tests do).

A 50-cell notebook (25 code cells with a line of output each, 25 Markdown cells) is
open in JupyterLab; a cell in its kernel asks the page for the live document 30 times,
blocking the kernel as a ``%%agent`` cell does. Printed: the round trip's median, p90
and maximum, the size of the page's answer, and the size of read_notebook's result
for it (what the model gets).
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "browser"))

from lab_harness import CHROMIUM, CHROMIUM_ARGS, command, open_notebook, start_lab, wait_kernel_idle  # noqa: E402

CELLS = 50
ROUNDS = 30

MEASURE = f"""
import json, os, statistics, time
from pathlib import Path
from hermes_nb.kernel.frontend_link import FrontendLink
from hermes_nb.kernel.notebook_live import live_cells
from hermes_nb.context.notebook_file import format_notebook
link = FrontendLink()
path = os.environ["JPY_SESSION_NAME"]
times, size = [], 0
for _ in range({ROUNDS}):
    started = time.perf_counter()
    reply = link.ask("read", {{"path": path}}, 10.0)
    times.append((time.perf_counter() - started) * 1000)
    assert reply.data is not None, reply.why
    size = len(json.dumps(reply.data))
text = format_notebook(Path(path), live_cells(reply.data), live="the live document")
times.sort()
print(f"RESULT attached={{link.attached()}} cells={{len(reply.data['cells'])}} "
      f"median={{statistics.median(times):.1f}}ms p90={{times[int(len(times) * 0.9)]:.1f}}ms "
      f"max={{times[-1]:.1f}}ms answer={{size}}B result={{len(text)}}chars")
"""


def notebook(path: Path) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells.append(nbformat.v4.new_markdown_cell("# A fifty-cell notebook"))
    for i in range((CELLS - 2) // 2):
        nb.cells.append(nbformat.v4.new_markdown_cell(f"## Step {i}\nWhat this step does, in a sentence or two."))
        code = nbformat.v4.new_code_cell(f"values_{i} = [x * {i} for x in range(10)]\nprint(sum(values_{i}))")
        code.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"{45 * i}\n")]
        code.execution_count = i + 1
        nb.cells.append(code)
    nb.cells.append(nbformat.v4.new_code_cell(MEASURE))
    nbformat.write(nb, str(path))


def main() -> None:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        root, home = Path(tmp) / "root", Path(tmp) / "home"
        root.mkdir()
        home.mkdir()
        notebook(root / "fifty.ipynb")
        lab = start_lab(root, home)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                page.set_default_timeout(120_000)
                open_notebook(page, lab, "fifty.ipynb")
                page.wait_for_timeout(2000)  # the page announces itself to the server
                command(page, "notebook:run-all-cells")
                page.get_by_text("RESULT").first.wait_for(timeout=180_000)
                wait_kernel_idle(page)
                text = page.locator(".jp-OutputArea-output", has_text="RESULT").first.inner_text()
                browser.close()
        finally:
            lab.stop()
    line = re.search(r"RESULT.*", text)
    print(f"live read of a {CELLS}-cell notebook, {ROUNDS} round trips:")
    print(line.group(0) if line else text)


if __name__ == "__main__":
    main()
