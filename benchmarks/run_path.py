"""Which modules one run goes through, and how often a call climbs back up a layer.

In a terminal IPython shell (in this process), ``%load_ext hermes_nb`` and one
``%%agent`` cell on a scripted model that calls a tool (``list_files``) and then
answers: the run's start, its tool call, the checkpoint, the final save and the
transcript. A profiler on every thread records each call from one hermes_nb module
into another. It prints the modules the run visited (by package) and the calls that
went from a module into one of a higher layer ("climbs"), the layers being, bottom
up: errors, safety, store, agent, ui and context, mcp, kernel and serverext, and the
package's top. Modules that are not in a package are placed in the layer of the
package their code belongs to (``LAYER_OF_TOP_MODULE``), so layouts can be compared.

Run: ``python benchmarks/run_path.py [--list]``.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import tempfile
import threading
from pathlib import Path
from types import FrameType
from typing import Any

LAYERS = {
    "errors": 0, "safety": 1, "store": 2, "agent": 3, "ui": 4, "context": 4,
    "mcp": 5, "kernel": 6, "serverext": 6,
}  # fmt: skip
TOP = 7
#: Modules directly under hermes_nb in layouts without packages for these layers.
LAYER_OF_TOP_MODULE = {
    **dict.fromkeys(("fsio", "redact", "depth", "safe_output"), "safety"),
    **dict.fromkeys(
        ("cache", "changes", "coerce", "diskstate", "folders", "index", "journal", "jsonstream",
         "liveness", "merge", "notices", "publish", "runmarks", "models", "config", "session_ops"),
        "store",
    ),
    **dict.fromkeys(("restore_report", "runcomm"), "ui"),
    "install_hint": "agent",
    **dict.fromkeys(
        ("cell_loop", "commands", "compression", "lookup", "magics", "prewarm", "running_cell",
         "titles", "toolset", "turn_history", "view_pump", "streaming", "notes", "frontend_link"),
        "kernel",
    ),
}  # fmt: skip


def layer(module: str) -> int:
    parts = module.split(".")
    if len(parts) == 1:
        return TOP
    name = parts[1]
    if name in LAYERS:
        return LAYERS[name]
    if name in LAYER_OF_TOP_MODULE:
        return LAYERS[LAYER_OF_TOP_MODULE[name]]
    return TOP


class Recorder:
    def __init__(self) -> None:
        self.edges: collections.Counter[tuple[str, str]] = collections.Counter()
        self.modules: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, frame: FrameType, event: str, arg: Any) -> None:
        if event != "call":
            return
        callee = frame.f_globals.get("__name__", "")
        if not callee.startswith("hermes_nb"):
            return
        caller_frame = frame.f_back
        caller = caller_frame.f_globals.get("__name__", "") if caller_frame is not None else ""
        with self._lock:
            self.modules.add(callee)
            if caller.startswith("hermes_nb") and caller != callee:
                self.edges[(caller, callee)] += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="print every module and every climb")
    args = parser.parse_args()
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    folder = Path(tempfile.mkdtemp(prefix="hermes_nb-run-path-"))
    os.chdir(folder)
    os.environ["JPY_SESSION_NAME"] = str(folder / "nb.ipynb")
    (folder / "data.csv").write_text("a,b\n1,2\n")
    script = {"replies": [{"text": "Let me look.", "tool_calls": [{"name": "list_files", "arguments": {}}]},
                          "There is one file."]}  # fmt: skip
    (folder / "script.json").write_text(json.dumps(script))
    shell = InteractiveShell.instance()
    shell.run_cell("%load_ext hermes_nb", store_history=False)
    shell.run_cell("%config AgentMagics.model = 'replay:script.json'", store_history=False)
    with capture_output():
        shell.run_cell("%%agent\nwarm up\n", store_history=False)  # imports and first-use work
    (folder / "script.json").write_text(json.dumps(script))
    rec = Recorder()
    threading.setprofile(rec)
    sys.setprofile(rec)
    try:
        with capture_output():
            result = shell.run_cell("%%agent --new\nWhat files are here?\n", store_history=False)
    finally:
        sys.setprofile(None)
        threading.setprofile(None)  # type: ignore[arg-type]
    if result.error_in_exec is not None or result.error_before_exec is not None:
        raise SystemExit(f"the run failed: {result.error_in_exec or result.error_before_exec!r}")
    climbs = {e: n for e, n in rec.edges.items() if layer(e[1]) > layer(e[0])}
    by_package = collections.Counter(m.split(".")[1] if m.count(".") else "(top)" for m in rec.modules)
    print(f"modules visited: {len(rec.modules)}")
    print("by package: " + ", ".join(f"{p} {n}" for p, n in sorted(by_package.items())))
    print(f"module-to-module call edges: {len(rec.edges)}")
    print(f"climbs (calls into a higher layer): {len(climbs)} edges, {sum(climbs.values())} calls")
    if args.list:
        for module in sorted(rec.modules):
            print("  ", module)
        for (a, b), n in sorted(climbs.items()):
            print(f"   climb {a} -> {b} ({n})")


if __name__ == "__main__":
    main()
