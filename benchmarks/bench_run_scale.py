"""Where a run's kernel CPU goes on a long session: the store's part apart from the request's.

In a real kernel against the local test server (a separate process, so its CPU is not
counted), a ``%%agent`` run of 20 sequential ``python`` tool calls (21 model requests)
on a session of 10 and of 100,000 messages (~330 bytes each, 33 MB; compression off),
twice in a row in one kernel: the first run reads the session, the second does not.
For each it prints the kernel's CPU time for the run, split by where each thread spent
it (per-thread CPU clocks around each part; a part's time excludes nested parts):

* load: reading the session file into the kernel (the run's first use of it);
* store: the rest of the store's work: the run's start (pending mark), checkpoints,
  the final save, index rows, ``SessionStore.get``/``refresh``, the history handed
  to the agent;
* history: what the agent makes of the history for the provider (failed requests
  dropped, messages cleaned), once a turn and then per step for the step's messages;
* encode / send: the request body's JSON and handing it to the HTTP client (the
  bytes a long session must send every step; no store can change that);
* other: everything else (the widget, the tools, reading the stream);
* gc: of all the above, the cyclic garbage collector's share.

Then ``%agent use`` of the 100,000-message session in a fresh kernel: wall time, CPU
and the kernel's peak memory above what it held before the command.

``--profile`` also prints the functions with the most CPU time (cProfile in every
thread of the kernel) for the 100,000-message run.

Run: ``python benchmarks/bench_run_scale.py [--profile] [--sizes 10,100000]``.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from kernel_harness import kernel  # noqa: E402
from sse_server import ServerProcess, text_reply, tool_reply  # noqa: E402

TOOL_CALLS = 20
NOTEBOOK = "bench.ipynb"

SETUP = f"""
%load_ext hermes_nb
%config AgentMagics.auto_title = False
%config AgentMagics.max_turns = {TOOL_CALLS + 2}
import hermes_nb.kernel.compression as _compression
_compression.needs_compression = lambda *a, **k: False
"""

#: Per-thread CPU accounting: the outermost call of a part counts, nested calls don't
#: (a save inside the final write-back is the write-back's).
ACCOUNT = r"""
import functools, gc, threading, time as _time
_PARTS = ("load", "store", "history", "encode", "send", "gc")
_parts = dict.fromkeys(_PARTS, 0.0)
_stack = threading.local()
def _account(part, owner, name):
    real = getattr(owner, name)
    if getattr(real, "_accounted", False):
        return
    @functools.wraps(real)
    def wrapper(*args, **kwargs):
        frames = _stack.__dict__.setdefault("frames", [])
        frames.append(0.0)  # CPU of nested accounted calls, counted by their own part
        t = _time.thread_time()
        try:
            return real(*args, **kwargs)
        finally:
            spent = _time.thread_time() - t
            _parts[part] += spent - frames.pop()
            if frames:
                frames[-1] += spent
    wrapper._accounted = True
    setattr(owner, name, wrapper)
_gc_started = threading.local()
def _gc_clock(phase, info):
    if phase == "start":
        _gc_started.t = _time.thread_time()
    elif hasattr(_gc_started, "t"):
        _parts["gc"] += _time.thread_time() - _gc_started.t
gc.callbacks.append(_gc_clock)
from hermes_nb.kernel import run_lifecycle as _s
from hermes_nb.store import session as _se, session_store as _ss
from hermes_nb.agent import loop as _loop
from hermes_nb.agent.providers import body as _body, openai_compat as _oc
_account("load", _ss.SessionStore, "load")
for _name in ("save", "save_changes", "save_index_row", "flush_journal"):
    _account("store", _se.Session, _name)
for _name in ("get", "refresh"):
    _account("store", _ss.SessionStore, _name)
for _name in ("start", "checkpoint", "finish", "fail", "history", "publish_start", "flush_start"):
    _account("store", _s.Run, _name)
_account("history", _loop._Run, "_request")
_account("history", _loop, "to_provider_messages")
_account("history", _loop, "drop_failed_requests")
_account("encode", _body.BodyEncoder, "encode")
_account("send", _oc.OpenAICompatProvider, "_open")
"""

PROFILE = r"""
import cProfile, pstats, threading as _th, time as _tm
_profiles = []
_real_run = _th.Thread.run
def _profiled_run(self):
    p = cProfile.Profile(_tm.thread_time)
    _profiles.append(p)
    p.enable()
    try:
        _real_run(self)
    finally:
        p.disable()
_th.Thread.run = _profiled_run
_main_prof = cProfile.Profile(_tm.thread_time)
_profiles.append(_main_prof)
"""

MEASURE_START = "_cpu0 = time.process_time(); _parts.update(dict.fromkeys(_PARTS, 0.0))"
MEASURE_END = "print('RESULT', json.dumps({'cpu': time.process_time() - _cpu0, **_parts}))"
PROFILE_END = r"""
import io
_main_prof.disable()
_out = io.StringIO()
_st = pstats.Stats(_profiles[0], stream=_out)
for _p in _profiles[1:]:
    try:
        _st.add(_p)
    except TypeError:
        pass
_st.sort_stats("tottime").print_stats(25)
_st.sort_stats("cumulative").print_stats(60)
print(_out.getvalue())
"""


def _make_session(folder: Path, n: int) -> str:
    from hermes_nb import models

    models.set_session_dir(folder / ".hermes_nb" / "sessions")
    session = models.new_session(title=f"{n} messages", notebook=NOTEBOOK)
    filler = "x" * 290
    session.messages = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": f"{i:06d} {filler}"} for i in range(n)
    ]
    session.save()
    return session.session_id


def _env(folder: Path, url: str) -> dict[str, str]:
    return {
        "OPENAI_API_KEY": "sk-bench",
        "OPENAI_BASE_URL": url,
        "HERMES_NB_MODEL": "openai:bench-model",
        "JPY_SESSION_NAME": str(folder / NOTEBOOK),
    }


def run_once(n: int, profile: bool = False) -> list[dict[str, float]]:
    """Kernel CPU seconds of two runs in a row on N messages, in total and by part: the
    first reads the session, the second finds it (and its cleaned history) in memory."""
    replies = [
        tool_reply([(f"call_{i}", "python", {"code": f"v{i} = {i} * 2"})]) for i in range(TOOL_CALLS)
    ]
    replies.append(text_reply("done"))
    found: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp, ServerProcess(replies, loop=True) as server:
        folder = Path(tmp)
        (folder / NOTEBOOK).write_text("{}")
        _make_session(folder, n)
        with kernel(folder, _env(folder, server.url)) as k:
            setup = k.run(SETUP + "import json, time\n" + ACCOUNT + (PROFILE if profile else ""), timeout=120)
            assert setup.status == "ok", setup.text()
            for turn in range(2):
                k.run(MEASURE_START + ("\n_main_prof.enable()" if profile and turn else ""))
                ran = k.run(f"%%agent\nrun the tools ({turn + 1})", timeout=600)
                assert "done" in ran.text(), ran.text()[-500:]
                out = k.run(MEASURE_END)
                found.append(json.loads(out.stdout.split("RESULT", 1)[1]))
            if profile:
                print(k.run(PROFILE_END, timeout=120).stdout)
        sent = len(server.requests())
    assert sent == 2 * (TOOL_CALLS + 1), sent
    return found


USE = """
import time, json
def _hwm():
    return int([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0]) * 1024
def _rss():
    return int([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmRSS')][0]) * 1024
open('/proc/self/clear_refs', 'w').write('5')  # reset the peak to the current size
_before = _rss()
_t, _c = time.perf_counter(), time.process_time()
"""
USE_END = "print('RESULT', json.dumps({'wall': time.perf_counter() - _t, 'cpu': time.process_time() - _c, 'peak': _hwm() - _before}))"


def use_once(n: int) -> dict[str, float]:
    """``%agent use`` of an N-message session in a fresh kernel: wall, CPU, peak memory."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / NOTEBOOK).write_text("{}")
        sid = _make_session(folder, n)
        size = (folder / ".hermes_nb" / "sessions" / f"{sid}.json").stat().st_size
        with kernel(folder, _env(folder, "http://127.0.0.1:9")) as k:
            setup = k.run(SETUP + USE, timeout=120)
            assert setup.status == "ok", setup.text()
            used = k.run(f"%agent use {sid}", timeout=600)
            assert used.status == "ok", used.text()
            out = k.run(USE_END)
            shown = sum(len(json.dumps(d)) for d in used.displays) + len(used.stdout)
    found = json.loads(out.stdout.split("RESULT", 1)[1])
    found.update(file=size, shown=shown)
    return found


def main() -> None:
    sizes = [10, 100_000]
    if "--sizes" in sys.argv:
        sizes = [int(s) for s in sys.argv[sys.argv.index("--sizes") + 1].split(",")]
    profile = "--profile" in sys.argv
    results: dict[int, list[dict[str, float]]] = {}
    for n in sizes:
        started = time.perf_counter()
        results[n] = run_once(n, profile=profile and n == sizes[-1])
        print(f"  ran {n} messages twice in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    print(f"a run of {TOOL_CALLS} python tool calls ({TOOL_CALLS + 1} requests), kernel CPU seconds:")
    for turn, label in enumerate(("first run (reads the session)", "second run")):
        print(f" {label}:")
        base = results[sizes[0]][turn]["cpu"]
        for n, runs in results.items():
            r = runs[turn]
            named = ("load", "store", "history", "encode", "send")
            other = r["cpu"] - sum(r[p] for p in named)
            split = ", ".join(f"{p} {r[p]:4.2f}" for p in named)
            print(
                f"  {n:>7,} messages: total {r['cpu']:5.2f} ({r['cpu'] / base:4.2f}x the {sizes[0]}-message run); "
                f"{split}, other {other:4.2f}; gc {r['gc']:4.2f}"
            )
    used = use_once(sizes[-1])
    print(
        f"%agent use of {sizes[-1]:,} messages ({used['file'] / 1e6:.0f} MB file): {used['wall']:.2f} s wall, "
        f"{used['cpu']:.2f} s CPU, peak memory +{used['peak'] / 1e6:.0f} MB, "
        f"{used['shown'] / 1e3:.0f} kB sent to the page"
    )
    print(json.dumps({"runs": {str(n): r for n, r in results.items()}, "use": used}))


if __name__ == "__main__":
    main()
