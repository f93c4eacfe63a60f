"""Where the time goes before a ``%%agent`` cell's request leaves: a timeline.

In a real kernel against the local OpenAI-protocol test server (as
``bench_first_token.py``), the functions on a run's path are wrapped with timers
(``time.time()``, the clock the server stamps arrivals with), then a first cell and a
few later ones run back to back. For each cell it prints, in milliseconds from
sending the execute request, when each wrapped call started, how long it took and on
which thread, and when the request reached the server; also the modules the cells
imported that the prewarm thread had not.

The wrappers are installed by a cell run after the typing pause, just before the
first ``%%agent`` cell (installing them imports what the prewarm thread imports
anyway). ``--no-pending-save`` replaces the pending mark's session-file write with
nothing (to see what remains without it); never use that figure as a result.

Run: ``python benchmarks/profile_first_request.py [--cells N] [--no-pending-save]``.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from kernel_harness import Kernel  # noqa: E402
from sse_server import ServerProcess, text_reply  # noqa: E402

TYPING = 2.0

TARGETS = [
    "hermes_nb.kernel.magics:AgentMagics._cell",
    "hermes_nb.kernel.magics:AgentMagics._run",
    "hermes_nb.kernel.magics:AgentMagics._model_spec",
    "hermes_nb.kernel.magics:AgentMagics._provider",
    "hermes_nb.kernel.magics:AgentMagics._current_session",
    "hermes_nb.kernel.magics:AgentMagics._agent",
    "hermes_nb.kernel.magics:AgentMagics._tools",
    "hermes_nb.kernel.magics:AgentMagics._show_images",
    "hermes_nb.kernel.magics:AgentMagics._context",
    "hermes_nb.kernel.magics:AgentMagics._compress",
    "hermes_nb.ui:choose_renderer",
    "hermes_nb.ui.widget:WidgetRenderer.__init__",
    "hermes_nb.ui.widget:WidgetRenderer.start",
    "hermes_nb.kernel.cell_loop:drive",
    "hermes_nb.kernel.cell_loop:_announce",
    "hermes_nb.kernel.run_lifecycle:Run.__init__",
    "hermes_nb.kernel.run_lifecycle:Run.start",
    "hermes_nb.kernel.run_lifecycle:Run._mark_pending",
    "hermes_nb.kernel.run_lifecycle:Run.history",
    "hermes_nb.store.session:Session.save",
    "hermes_nb.store.session:Session.save_changes",
    "hermes_nb.store.session:Session.save_index_row",
    "hermes_nb.store.runmarks:put",
    "hermes_nb.store.journal:append",
    "hermes_nb.kernel.run_lifecycle:Run.publish_start",
    "hermes_nb.store.sessions:get_session",
    "hermes_nb.agent.loop:Agent.run",
    "hermes_nb.agent.loop:_Run._tool_schemas",
    "hermes_nb.agent.loop:to_provider_messages",
    "hermes_nb.agent.providers.openai_compat:OpenAICompatProvider._lookup_window",
    "hermes_nb.agent.providers.openai_compat:OpenAICompatProvider._open",
    "hermes_nb.agent.providers.openai_compat:OpenAICompatProvider._client",
    "hermes_nb.agent.providers.openai_compat:OpenAICompatProvider._read",
    "hermes_nb.agent.providers.body:BodyEncoder.encode",
    "hermes_nb.agent.providers.streamguard:StreamGuard.open",
    "hermes_nb.agent.providers.streamguard:StreamGuard._run",
    "openai._base_client:SyncAPIClient.post",
]

INSTALL = r"""
import functools as _ft, importlib as _il, sys as _sys, threading as _th, time as _t
_hnb_trace = []
_hnb_modules = set(_sys.modules)
def _hnb_wrap(target):
    mod, _, qual = target.partition(":")
    try:
        owner = _il.import_module(mod)
    except ImportError:
        return
    parts = qual.split(".")
    for p in parts[:-1]:
        owner = getattr(owner, p, None)
        if owner is None:
            return
    fn = getattr(owner, parts[-1], None)
    if fn is None:
        return
    if _sys.modules.get("inspect").isgeneratorfunction(fn):
        @_ft.wraps(fn)
        def w(*a, **k):
            t0 = _t.time()
            _hnb_trace.append((qual + " (generator made)", _th.current_thread().name, t0, t0))
            yield from fn(*a, **k)
    else:
        @_ft.wraps(fn)
        def w(*a, **k):
            t0 = _t.time()
            try:
                return fn(*a, **k)
            finally:
                _hnb_trace.append((qual, _th.current_thread().name, t0, _t.time()))
    setattr(owner, parts[-1], w)
for _target in TARGETS:
    _hnb_wrap(_target)
get_ipython().events.register(
    "pre_run_cell", lambda *a: _hnb_trace.append(("(cell starts)", "MainThread", _t.time(), _t.time()))
)
"""

NO_PENDING_SAVE = r"""
import hermes_nb.streaming as _s, hermes_nb.models as _m
_orig_mark = _s.Run._mark_pending
def _mark_no_save(self):
    saved = _m.Session.save, _m.Session.save_changes, _m.Session.save_index_row
    _m.Session.save = _m.Session.save_changes = _m.Session.save_index_row = lambda *a, **k: None
    try:
        _orig_mark(self)
    finally:
        _m.Session.save, _m.Session.save_changes, _m.Session.save_index_row = saved
_s.Run._mark_pending = _mark_no_save
"""


def main() -> None:
    cells = int(sys.argv[sys.argv.index("--cells") + 1]) if "--cells" in sys.argv else 4
    no_save = "--no-pending-save" in sys.argv
    replies = [text_reply("Zebra", " answer")] * cells
    with tempfile.TemporaryDirectory() as tmp, ServerProcess(replies) as server:
        env = {
            "OPENAI_API_KEY": "sk-bench",
            "OPENAI_BASE_URL": server.url,
            "HERMES_NB_MODEL": "openai:gpt-4o-mini",
        }
        k = Kernel(Path(tmp), env)
        k.start()
        try:
            setup = "%load_ext hermes_nb\n%config AgentMagics.auto_title = False\n%config AgentMagics.display = 'widget'"
            assert k.run(setup, timeout=120).status == "ok"
            time.sleep(TYPING)
            ex = k.run(f"TARGETS = {TARGETS!r}\n" + INSTALL + (NO_PENDING_SAVE if no_save else ""), timeout=60)
            assert ex.status == "ok", ex.text()
            sents: list[float] = []
            for i in range(cells):  # back to back, as bench_first_token.py runs them
                sents.append(time.time())
                ex = k.run(f"%%agent\nSay Zebra {i}.", timeout=120)
                assert len(server.requests()) == i + 1, ex.text()[-400:]
            new = k.run("print(sorted(set(_sys.modules) - _hnb_modules))").stdout.strip()
            everything = json.loads(k.run("import json as _j; print(_j.dumps(_hnb_trace))").stdout)
            for i, sent in enumerate(sents):
                arrived = server.requests()[i]["at"]
                until = sents[i + 1] if i + 1 < len(sents) else float("inf")
                trace = [t for t in everything if sent <= t[2] < until]
                label = "first cell" if i == 0 else f"later cell {i}"
                print(f"\n== {label}: request reached the server at {(arrived - sent) * 1000:.1f} ms")
                rows = [(t0, t1, thread, name) for name, thread, t0, t1 in trace]
                rows.append((arrived, arrived, "server", "(request arrives)"))
                for t0, t1, thread, name in sorted(rows):
                    if t0 > arrived + 0.05:
                        continue
                    print(f"  {(t0 - sent) * 1000:8.2f} {(t1 - t0) * 1000:8.2f}  {thread[:28]:<28} {name}")
                if i == 0:
                    print(f"  modules imported by the first cells (none by the first, it should be): {new}")
        finally:
            k.shutdown()


if __name__ == "__main__":
    main()
