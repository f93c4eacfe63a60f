"""Session store figures: checkpoint cost, index upsert, load and listing.

Run: ``python benchmarks/bench_store.py`` (a few tens of seconds). Uses a temp folder
on the same file system as the system temp dir (set TMPDIR to measure another disk).

Targets:
* ``save(skip_index=True)`` <= 1.5x a bare ``json.dumps`` + write + fsync + replace
  of the same bytes;
* a full ``save()`` among 1,000 sessions >= 20x faster than rebuilding the index by
  reading every session file.

Also prints a run's start (its index row and pending mark, paid before the request
leaves) and final save, for sessions of 10 to 100,000 messages.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from hermes_nb import models
from hermes_nb.models import Session
from hermes_nb.store import index


def _messages(n: int) -> list[dict]:
    out: list[dict] = []
    for i in range(n):
        if i % 4 == 0:
            out.append({"role": "user", "content": f"Question {i}: " + "what about revenue? " * 8})
        elif i % 4 == 1:
            call = {"id": f"c{i}", "type": "function",
                    "function": {"name": "python", "arguments": json.dumps({"code": "df.head()"})}}
            out.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif i % 4 == 2:
            out.append({"role": "tool", "tool_call_id": f"c{i - 1}", "content": "col1 col2\n" * 20})
        else:
            out.append({"role": "assistant", "content": "The answer is **42**. " * 15})
    return out


def _median(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm up
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _paired(ours: Callable[[], object], base: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Medians of both, run alternately so that disk noise hits both alike."""
    ours()
    base()
    a, b = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        ours()
        t1 = time.perf_counter()
        base()
        t2 = time.perf_counter()
        a.append(t1 - t0)
        b.append(t2 - t1)
    return statistics.median(a), statistics.median(b)


def _bare_write(path: Path, data: dict) -> None:
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    tmp = path.with_name(path.name + ".baseline-tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, payload)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def bench_checkpoint(folder: Path) -> None:
    print("save(skip_index=True) vs bare json.dumps + write + fsync + replace")
    for n, repeat in ((10, 300), (1_000, 80), (10_000, 15)):
        s = Session(session_id=f"ckpt{n}", messages=_messages(n))
        default = models.CHECKPOINT_FSYNC_DIR
        for fsync_dir in (True, False):
            models.CHECKPOINT_FSYNC_DIR = fsync_dir
            ours, base = _paired(
                lambda s=s: s.save(skip_index=True),
                lambda s=s: _bare_write(folder / "baseline.json", s.to_dict()),
                repeat,
            )
            size = s.path.stat().st_size
            label = "with folder fsync   " if fsync_dir else "without folder fsync"
            label += " (default)" if fsync_dir == default else "          "
            print(f"  {n:>6} messages ({size / 1e6:5.2f} MB) {label}: save {ours * 1e3:6.2f} ms, "
                  f"bare {base * 1e3:6.2f} ms, ratio {ours / base:4.2f}  (target <= 1.5)")
        models.CHECKPOINT_FSYNC_DIR = default


def _rebuild_by_scanning(folder: Path) -> None:
    rows = index._scan(folder)
    payload = {"version": 1, "sessions": [r.to_dict() for r in rows]}
    _bare_write(folder / "_index_rebuilt.json", payload)


def bench_index(folder: Path) -> None:
    print("full save() with 1,000 sessions in the folder")
    for i in range(1_000):
        Session(session_id=f"s{i:04d}", title=f"Session {i}", notebook="nb.ipynb",
                messages=_messages(40)).save(skip_index=True)
    index.rebuild(models.SESSION_INDEX_FILE, folder)
    target = Session(session_id="s0500", messages=_messages(40))
    ours, base = _paired(target.save, lambda: _rebuild_by_scanning(folder), 10)
    print(f"  save(): {ours * 1e3:.2f} ms; rebuild-by-scan baseline: {base * 1e3:.1f} ms; "
          f"{base / ours:.0f}x faster  (target >= 20x)")

    t_list = _median(lambda: models.list_sessions("nb.ipynb"), 20)
    code = ("import time; t=time.perf_counter(); from hermes_nb import models; "
            f"models.set_session_dir({str(folder)!r}); rows=models.list_sessions(); "
            "print(len(rows), time.perf_counter()-t)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    count, cold = out.stdout.split()
    print(f"  list_sessions() of {count} sessions: {t_list * 1e3:.2f} ms in a warm process, "
          f"{float(cold) * 1e3:.1f} ms in a fresh one (import included)")


def bench_load() -> None:
    print("Session.load")
    for n in (10, 1_000, 10_000):
        sid = f"ckpt{n}"
        t = _median(lambda sid=sid: Session.load(sid), 20)
        print(f"  {n:>6} messages: {t * 1e3:7.2f} ms")


def bench_pending_mark() -> None:
    """A run's start, before its request can leave: the run lock, the ``.running`` mark
    and the pending record appended to the session's journal (flushed to disk and the
    index row written after the request left, outside this figure), then the run's
    final save; median of 30."""
    from hermes_nb import streaming
    from hermes_nb.agent.loop import TurnResult

    print("run start (run lock, mark, pending record) and final save")
    for n in (10, 1_000, 10_000, 100_000):
        session = models.new_session(title=f"mark{n}")
        session.messages = _messages(n)
        session.save()
        starts: list[float] = []
        ends: list[float] = []
        for k in range(30):
            run = streaming.Run(session.session_id, f"q{k}", checkpoint_interval=3600)
            t = time.perf_counter()
            run.start()
            starts.append(time.perf_counter() - t)
            t = time.perf_counter()
            run.finish(TurnResult(messages=[{"role": "assistant", "content": "ok"}]))
            ends.append(time.perf_counter() - t)
        print(f"  {n:>7} messages: start {statistics.median(starts) * 1e3:6.2f} ms, "
              f"final save {statistics.median(ends) * 1e3:7.2f} ms median, {max(ends) * 1e3:7.1f} ms max")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / ".hermes_nb" / "sessions"
        models.set_session_dir(folder)
        t0 = time.perf_counter()
        bench_checkpoint(folder)
        bench_load()
        bench_pending_mark()
        bench_index(folder)
        print(f"(total {time.perf_counter() - t0:.1f} s, folder on {tmp})")


if __name__ == "__main__":
    main()
