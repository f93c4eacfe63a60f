"""%%agent in a real kernel: streaming overhead, widget traffic, checkpoint delay, load time.

Prints:
- 20,000 tokens from the local test server through ``%%agent`` against the raw
  ``openai`` client reading the same stream in the same kernel (target <= 1.2x);
- widget (comm) messages per second while a paced reply streams for ~5 s, as from a
  real model (target <= 25);
- delay from ``tool.completed`` to its checkpoint on disk (target median <= 50 ms);
- ``%load_ext hermes_nb`` with 1,000 sessions in the folder (target <= 0.3 s).

Run: ``python benchmarks/bench_notebook.py [streaming|widgets|checkpoint|load ...]`` (about a minute).
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from kernel_harness import kernel  # noqa: E402
from sse_server import ServerProcess, text_reply, token_stream, tool_reply  # noqa: E402

TOKENS = 20_000
TOOL_CALLS = 30
ROUNDS = 3

RAW_CLIENT = """
import time, openai
_client = openai.OpenAI(max_retries=0)
_t = time.perf_counter()
_n = 0
for _chunk in _client.chat.completions.create(model="test-model", messages=[{"role": "user", "content": "go"}], stream=True):
    if _chunk.choices and _chunk.choices[0].delta.content:
        _n += 1
print("raw", _n, time.perf_counter() - _t)
"""

PROBE = """
import time
from hermes_nb import streaming
_pokes, _saves = [], []
_poke, _checkpoint = streaming.Run.poke, streaming.Run.checkpoint
def _timed_poke(self):
    _pokes.append(time.perf_counter())
    _poke(self)
def _timed_checkpoint(self):
    saved = _checkpoint(self)
    if saved:
        _saves.append((time.perf_counter(), sum(1 for m in self.turn.snapshot().messages if m.get("role") == "tool")))
    return saved
streaming.Run.poke, streaming.Run.checkpoint = _timed_poke, _timed_checkpoint
"""

REPORT = """
import json
_delays = []
for i, poked in enumerate(_pokes):
    later = [t for t, tools in _saves if t >= poked and tools >= i + 1]
    if later:
        _delays.append(later[0] - poked)
print("DELAYS", json.dumps(_delays))
"""


def _env(server: ServerProcess, folder: Path) -> dict[str, str]:
    return {
        "OPENAI_API_KEY": "sk-bench",
        "OPENAI_BASE_URL": server.url,
        "HERMES_NB_MODEL": "openai:bench-model",
    }


def bench_streaming() -> None:
    replies = [token_stream(TOKENS)] * (2 * ROUNDS)
    with tempfile.TemporaryDirectory() as tmp, ServerProcess(replies, loop=True) as server:
        with kernel(Path(tmp), _env(server, Path(tmp))) as k:
            k.run("%load_ext hermes_nb\n%config AgentMagics.auto_title = False\nimport openai")
            raw_times, agent_times = [], []
            for _ in range(ROUNDS):
                t = time.perf_counter()
                out = k.run(RAW_CLIENT, timeout=300)
                raw_times.append(time.perf_counter() - t)
                assert out.stdout.startswith(f"raw {TOKENS}"), out.text()
                t = time.perf_counter()
                ex = k.run("%%agent --new\nstream please", timeout=300)
                elapsed = time.perf_counter() - t
                agent_times.append(elapsed)
                assert "tok tok" in ex.text(), ex.text()[:500]
    raw, agent = statistics.median(raw_times), statistics.median(agent_times)
    print(f"stream {TOKENS} tokens: raw client {raw:.2f}s, %%agent {agent:.2f}s, ratio {agent / raw:.2f}x (target <= 1.2x)")


def bench_widget_rate() -> None:
    """2,000 tokens at ~400 tokens/s: how many widget messages per second reach the frontend."""
    steps = []
    for i in range(2000):
        steps.append({"text": f"w{i} "})
        if i % 20 == 19:
            steps.append({"sleep": 0.05})
    steps.append({"finish": "stop"})
    with tempfile.TemporaryDirectory() as tmp, ServerProcess([{"steps": steps}]) as server:
        with kernel(Path(tmp), _env(server, Path(tmp))) as k:
            k.run("%load_ext hermes_nb\n%config AgentMagics.auto_title = False")
            t = time.perf_counter()
            ex = k.run("%%agent\nstream slowly", timeout=300)
            elapsed = time.perf_counter() - t
    assert "w1999" in ex.text(), ex.text()[:300]
    print(
        f"widget messages while streaming for {elapsed:.1f}s: {ex.comm_msgs} in all "
        f"(opening and closing the widgets included), {ex.comm_msgs / elapsed:.1f}/s (target <= 25/s)"
    )


def bench_checkpoint_delay() -> None:
    replies = [tool_reply([(f"call_{i}", "python", {"code": f"v{i} = {i} * 2"})]) for i in range(TOOL_CALLS)]
    replies.append(text_reply("done"))
    with tempfile.TemporaryDirectory() as tmp, ServerProcess(replies) as server:
        with kernel(Path(tmp), _env(server, Path(tmp))) as k:
            k.run("%load_ext hermes_nb\n%config AgentMagics.auto_title = False")
            k.run(f"%config AgentMagics.max_turns = {TOOL_CALLS + 2}")
            k.run(PROBE)
            k.run("%%agent\nrun the tools", timeout=300)
            out = k.run(REPORT)
    delays = json.loads(out.stdout.split("DELAYS", 1)[1])
    ms = sorted(d * 1000 for d in delays)
    print(
        f"tool.completed -> checkpoint on disk: median {statistics.median(ms):.1f} ms, "
        f"max {ms[-1]:.1f} ms over {len(ms)} tool calls (target median <= 50 ms)"
    )


def bench_load_ext() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "nb.ipynb").write_text("{}")
        _make_sessions(folder / ".hermes_nb" / "sessions", 1000)
        with kernel(folder, {"JPY_SESSION_NAME": str(folder / "nb.ipynb")}) as k:
            times = []
            for i in range(ROUNDS):
                verb = "load_ext" if i == 0 else "reload_ext"
                out = k.run(f"import time as _t\n_s = _t.perf_counter()\n%{verb} hermes_nb\nprint('LOAD', _t.perf_counter() - _s)")
                times.append(float(out.stdout.split("LOAD", 1)[1]))
    print(
        f"%load_ext with 1,000 sessions: first {times[0] * 1000:.0f} ms, "
        f"again {statistics.median(times[1:]) * 1000:.0f} ms (target <= 300 ms)"
    )


def _make_sessions(folder: Path, n: int) -> None:
    from hermes_nb import models

    models.set_session_dir(folder)
    for i in range(n):
        s = models.new_session(title=f"session {i}", notebook="nb.ipynb")
        s.messages = [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]
        s.save()


BENCHES = {"streaming": bench_streaming, "widgets": bench_widget_rate, "checkpoint": bench_checkpoint_delay, "load": bench_load_ext}

if __name__ == "__main__":
    for name in sys.argv[1:] or list(BENCHES):
        BENCHES[name]()
