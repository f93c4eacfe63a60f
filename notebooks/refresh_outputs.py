"""Execute the example notebooks in place, so their stored outputs are current.

    python notebooks/refresh_outputs.py [NAME.ipynb ...]

Same as ``jupyter execute --inplace``, without storing widget state in the notebook
metadata (it changes on every run and is not needed to read the outputs).
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent


def refresh(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    NotebookClient(
        nb,
        timeout=600,
        kernel_name="python3",
        store_widget_state=False,
        resources={"metadata": {"path": str(path.parent)}},
    ).execute()
    nb.metadata.pop("widgets", None)
    nbformat.write(nb, path)


def main(names: list[str]) -> None:
    paths = [HERE / n for n in names] or sorted(p for p in HERE.glob("*.ipynb") if not p.name.endswith(".out.ipynb"))
    for path in paths:
        print(f"executing {path.name}", flush=True)
        refresh(path)


if __name__ == "__main__":
    main(sys.argv[1:])
