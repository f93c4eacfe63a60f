"""A tool step costs the change, not the session: one run on sessions of growing length.

In a real kernel against the local test server, a ``%%agent`` run of 20 sequential
``python`` tool calls (21 model requests) on a session of N messages (~300 characters
each; compression switched off), for N = 10 / 1,000 / 10,000 (and 100,000 with
``--huge``). Prints, for each N, the kernel's CPU time for the run and the bytes the
kernel wrote into the sessions folder, each next to the 10-message baseline measured
in the same run (target: CPU <= 1.5x at 10,000 messages; bytes growing with the
turn, not the session).

Also prints the peak memory (max RSS) of a fresh process loading a 100 MB session.

Run: ``python benchmarks/bench_long_session.py [--huge]``.
"""

from __future__ import annotations

import json
import subprocess
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
import os, time
import hermes_nb.kernel.compression as _compression
_compression.needs_compression = lambda *a, **k: False
_written = [0]
_real_write = os.write
def _counting_write(fd, data, _real=_real_write):
    n = _real(fd, data)
    try:
        if ".hermes_nb" in os.readlink(f"/proc/self/fd/{{fd}}"):
            _written[0] += n
    except OSError:
        pass
    return n
os.write = _counting_write
"""

MEASURE_START = "_cpu0 = time.process_time(); _written[0] = 0"
MEASURE_END = "print('RESULT', time.process_time() - _cpu0, _written[0])"


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


def run_once(n: int) -> tuple[float, int]:
    """(kernel CPU seconds, bytes written to the sessions folder) for one run on N messages."""
    replies = [
        tool_reply([(f"call_{i}", "python", {"code": f"v{i} = {i} * 2"})]) for i in range(TOOL_CALLS)
    ]
    replies.append(text_reply("done"))
    with tempfile.TemporaryDirectory() as tmp, ServerProcess(replies) as server:
        folder = Path(tmp)
        (folder / NOTEBOOK).write_text("{}")
        _make_session(folder, n)
        env = {
            "OPENAI_API_KEY": "sk-bench",
            "OPENAI_BASE_URL": server.url,
            "HERMES_NB_MODEL": "openai:bench-model",
            "JPY_SESSION_NAME": str(folder / NOTEBOOK),
        }
        with kernel(folder, env) as k:
            setup = k.run(SETUP, timeout=120)
            assert setup.status == "ok", setup.text()
            k.run(MEASURE_START)
            ran = k.run("%%agent\nrun the tools", timeout=600)
            assert "done" in ran.text(), ran.text()[-500:]
            out = k.run(MEASURE_END)
        sent = len(server.requests())
    assert sent == TOOL_CALLS + 1, sent
    cpu, written = out.stdout.split("RESULT", 1)[1].split()[:2]
    return float(cpu), int(written)


def peak_memory_loading(megabytes: int = 100) -> tuple[int, int]:
    """(file bytes, max RSS in bytes) of a fresh process loading a session of that size."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / ".hermes_nb" / "sessions"
        from hermes_nb import models

        models.set_session_dir(folder)
        session = models.new_session(title="big")
        per = 1000
        session.messages = [
            {"role": "user" if i % 2 == 0 else "assistant", "content": "y" * per}
            for i in range(megabytes * 1024 * 1024 // (per + 40))
        ]
        session.save()
        size = session.path.stat().st_size
        # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the forking parent
        peak = "print(len(s.messages), [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0])\n"
        code = (
            "from hermes_nb import models\n"
            f"models.set_session_dir({str(folder)!r})\n"
            f"s = models.get_session({session.session_id!r})\n" + peak
        )
        base = subprocess.run(
            [sys.executable, "-c", "from hermes_nb import models\nclass s: messages = ()\n" + peak],
            capture_output=True, text=True, check=True,
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        _, rss_kb = out.stdout.split()
        _, base_kb = base.stdout.split()
        return size, (int(rss_kb) - int(base_kb)) * 1024


def main() -> None:
    sizes = [10, 1_000, 10_000] + ([100_000] if "--huge" in sys.argv else [])
    results: dict[int, tuple[float, int]] = {}
    for n in sizes:
        started = time.perf_counter()
        results[n] = run_once(n)
        print(f"  ran {n} messages in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    base_cpu, base_bytes = results[sizes[0]]
    print(f"a run of {TOOL_CALLS} python tool calls ({TOOL_CALLS + 1} requests), kernel CPU and bytes written:")
    for n, (cpu, written) in results.items():
        print(
            f"  {n:>7,} messages: CPU {cpu:6.2f} s ({cpu / base_cpu:5.2f}x the 10-message run), "
            f"written {written / 1e6:8.2f} MB ({written / max(base_bytes, 1):7.1f}x)"
        )
    size, rss = peak_memory_loading()
    print(f"loading a {size / 1e6:.0f} MB session: peak memory {rss / 1e6:.0f} MB above a bare import "
          f"({rss / size:.1f}x the file)")
    print(json.dumps({str(n): {"cpu": c, "bytes": b} for n, (c, b) in results.items()}))


if __name__ == "__main__":
    main()
