"""Make the screenshot the README and the guide show: JupyterLab after a finished
``%%agent`` run, with the sessions sidebar open.

Run it with ``python tests/browser/docs_screenshot.py [OUT.png]`` (default
``docs/images/jupyterlab-run.png``). It starts a real ``jupyter lab`` in a temporary
folder and drives Debian's chromium (see ``lab_harness``); the model is the ``replay:``
model, so the picture is the same on every run and needs no key.
"""

from __future__ import annotations

import csv
import json
import sys
import tempfile
from pathlib import Path

from lab_harness import (
    CHROMIUM,
    CHROMIUM_ARGS,
    command,
    open_notebook,
    replay_setup,
    start_lab,
    wait_kernel_idle,
)

ROOT = Path(__file__).resolve().parents[2]
REQUEST = "Load sales.csv into a DataFrame and tell me which month had the highest revenue."
CODE = (
    "import pandas as pd\n"
    "sales = pd.read_csv('sales.csv')\n"
    "ax = sales.plot.bar(x='month', y='revenue', legend=False, rot=0, figsize=(4, 2))\n"
    "ax.figure.tight_layout()\n"
    "sales.loc[sales['revenue'].idxmax(), 'month']"
)
SCRIPT = {
    "replies": [
        {
            "text": "Let me load the file and look at the revenue by month.",
            "tool_calls": [{"name": "python", "arguments": {"code": CODE}}],
            "usage": {"input_tokens": 1480, "output_tokens": 92},
        },
        {
            "text": "**March (2024-03)** had the highest revenue: **2,585.00**, about 29% "
            "above February. The table is in `sales` if you want to look further.",
            "usage": {"input_tokens": 1745, "output_tokens": 41},
        },
    ],
    "title": "Highest revenue month",
}
ROWS = [("2024-01", 1940.00), ("2024-02", 2002.50), ("2024-03", 2585.00), ("2024-04", 1945.00)]


def make_folder(root: Path) -> str:
    with (root / "sales.csv").open("w", newline="") as f:
        csv.writer(f).writerows([("month", "revenue"), *ROWS])
    (root / "script.json").write_text(json.dumps(SCRIPT))
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_code_cell(replay_setup("script.json")),
        nbformat.v4.new_code_cell(f"%%agent\n{REQUEST}"),
    ]
    nbformat.write(nb, str(root / "analysis.ipynb"))
    return "analysis.ipynb"


def main(out: Path) -> None:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        root, home = Path(tmp) / "root", Path(tmp) / "home"
        root.mkdir()
        home.mkdir()
        name = make_folder(root)
        server = start_lab(root, home)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
                page = browser.new_page(viewport={"width": 1280, "height": 880})
                page.set_default_timeout(120_000)
                open_notebook(page, server, name)
                command(page, "notebook:run-all-cells", wait=True)
                page.wait_for_selector("text=had the highest revenue", timeout=120_000)
                wait_kernel_idle(page)
                page.locator('.jp-SideBar [data-id="hermes-nb-sessions"]').first.click()
                page.wait_for_selector("#hermes-nb-sessions .hermes-nb-session", timeout=60_000)
                page.locator("summary", has_text="python(import pandas").first.click()
                page.wait_for_selector(".jp-OutputArea img, .hermes-nb-card img", timeout=30_000)
                page.wait_for_timeout(1500)
                out.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(out))
                browser.close()
        finally:
            server.stop()
    shrink(out)
    print(f"{out}: {out.stat().st_size // 1024} KB")


def shrink(path: Path) -> None:
    """A 256-colour palette: a screenshot of a page is mostly flat colour."""
    from PIL import Image

    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "images" / "jupyterlab-run.png")
