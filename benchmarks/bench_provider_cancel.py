"""How fast a cancel stops a provider whose server has gone silent.

A scripted server stalls (mid-reply, or before sending any header); the cancel
event is set from a timer; the time from ``cancel.set()`` until ``stream`` returns
is the latency. Target: under 0.5 s in every case.
Run: ``python benchmarks/bench_provider_cancel.py [--rounds N]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from sse_server import ScriptedServer, stall_reply  # noqa: E402

from hermes_nb.agent.providers import resolve_provider  # noqa: E402
from hermes_nb.agent.providers.retry import RetryPolicy  # noqa: E402

USER = [{"role": "user", "content": "hi"}]


def latency(provider: Any, after: float = 0.2) -> float:
    """Seconds between setting cancel and ``stream`` returning."""
    cancel = threading.Event()
    set_at: list[float] = []

    def fire() -> None:
        set_at.append(time.monotonic())
        cancel.set()

    timer = threading.Timer(after, fire)
    timer.start()
    for _ in provider.stream(USER, [], cancel):
        pass
    done = time.monotonic()
    timer.join()
    return done - set_at[0]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    os.environ.setdefault("OPENAI_API_KEY", "bench")
    os.environ.setdefault("ANTHROPIC_API_KEY", "bench")
    policy = RetryPolicy(retries=0)
    worst = 0.0
    with ScriptedServer() as server:
        providers = {
            "openai": resolve_provider("openai:bench", base_url=server.url, retry=policy),
            "anthropic": resolve_provider("anthropic:bench", base_url=server.root_url, retry=policy),
        }
        for case, reply in (("mid-reply", stall_reply(60)), ("before headers", {"stall_before_headers": 60})):
            for name, provider in providers.items():
                times = []
                for _ in range(args.rounds):
                    server.push(reply)
                    times.append(latency(provider))
                worst = max(worst, *times)
                print(f"{name:<10} stall {case:<15} cancel latency: max {max(times) * 1000:6.1f} ms, "
                      f"mean {sum(times) / len(times) * 1000:6.1f} ms")
    print(f"worst {worst * 1000:.1f} ms (target < 500 ms): {'OK' if worst < 0.5 else 'TOO SLOW'}")


if __name__ == "__main__":
    main()
