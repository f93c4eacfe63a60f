"""How much the agent loop costs on top of the raw ``openai`` client.

A scripted OpenAI-protocol server (in its own process, so it does not compete for
this process's GIL) streams the same 20,000-token reply to both contestants:

* raw: ``openai.OpenAI().chat.completions.create(stream=True)``, counting text deltas;
* agent: ``Agent(resolve_provider("openai:..."), tools).run(...)`` into a sink that
  only counts events (provider, retry wrapper, cancel guard, loop, TurnState).

Target: agent / raw <= 1.1. Wall time on a shared machine is noisy, so each round
runs both back to back and the report gives the median of the per-round ratios, and
the same for this process's CPU time (the server's CPU is not counted).

A second, steadier figure, with no network: the response lines are recorded once
and replayed from a list through the provider's reader alone (SSE split, JSON,
deltas) and through the whole loop, next to the SDK's typed parsing of the same
chunks (what the raw client pays per token beyond the network).
Run: ``python benchmarks/bench_engine.py [--tokens N] [--rounds R]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from sse_server import ServerProcess, token_stream  # noqa: E402

from hermes_nb.agent.events import Event  # noqa: E402
from hermes_nb.agent.loop import Agent  # noqa: E402
from hermes_nb.agent.providers import resolve_provider  # noqa: E402
from hermes_nb.agent.providers.base import Provider  # noqa: E402
from hermes_nb.agent.providers.openai_compat import OpenAICompatProvider  # noqa: E402
from hermes_nb.agent.tools.builtin import builtin_tools  # noqa: E402

MODEL = "bench-model"


Timing = tuple[float, float]  # (wall seconds, CPU seconds of this process)


def _now() -> Timing:
    return time.perf_counter(), time.process_time()


def _since(start: Timing) -> Timing:
    wall, cpu = _now()
    return wall - start[0], cpu - start[1]


def raw_client(url: str) -> Timing:
    """Time for the bare SDK to consume the stream."""
    import openai

    client = openai.OpenAI(base_url=url, api_key="bench", max_retries=0)
    started = _now()
    count = 0
    stream = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "go"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            count += 1
    elapsed = _since(started)
    client.close()
    return elapsed


def through_agent(agent: Agent) -> tuple[Timing, int]:
    """Time for the whole agent loop to deliver the stream to a counting sink."""
    counts = [0]

    def sink(event: Event) -> None:
        counts[0] += 1

    started = _now()
    result = agent.run([], "go", sink, threading.Event())
    elapsed = _since(started)
    if result.error:
        raise SystemExit(f"agent run failed: {result.error}")
    return elapsed, counts[0]


class _ReplayLines(Provider):
    """The OpenAI provider's reader over recorded response lines: no network."""

    def __init__(self, reader: OpenAICompatProvider, lines: list[str]) -> None:
        self.reader = reader
        self.lines = lines
        self.spec = "bench:recorded"

    def stream(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], cancel: threading.Event) -> Any:
        yield from self.reader._read(self.lines, cancel)


def isolated_overhead(url: str, rounds: int) -> None:
    """CPU per token without the network: SDK typed parsing, our reader, the whole loop."""
    import openai

    client = openai.OpenAI(base_url=url, api_key="bench", max_retries=0)
    params: dict[str, Any] = {"model": MODEL, "messages": [], "stream": True, "stream_options": {"include_usage": True}}
    with client.chat.completions.with_streaming_response.create(**params) as response:
        lines = list(response.iter_lines())
    client.close()
    payloads = [line[6:] for line in lines if line.startswith("data: {")]
    chunk_type = openai.types.chat.ChatCompletionChunk
    reader = resolve_provider(f"openai:{MODEL}")
    assert isinstance(reader, OpenAICompatProvider)
    agent = Agent(_ReplayLines(reader, lines), builtin_tools({}))

    def sdk_typed() -> None:  # what openai's Stream does per chunk: JSON, then construct
        for data in payloads:
            chunk = chunk_type.construct(**json.loads(data))
            if chunk.choices and chunk.choices[0].delta.content:
                pass

    def provider_only() -> None:
        for _ in reader._read(lines, threading.Event()):
            pass

    def whole_loop() -> None:
        agent.run([], "go", lambda event: None, threading.Event())

    costs = {}
    steps = (("SDK typed chunks", sdk_typed), ("provider reader", provider_only), ("agent loop", whole_loop))
    for name, fn in steps:
        times = []
        for _ in range(rounds):
            started = time.process_time()
            fn()
            times.append(time.process_time() - started)
        costs[name] = min(times) / len(payloads) * 1e6
    print(f"without network (recorded lines), CPU per token, best of {rounds}:")
    for name, cost in costs.items():
        print(f"  {name:<17} {cost:7.2f} us")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args(argv)

    with ServerProcess([token_stream(args.tokens)], loop=True) as server:
        os.environ["OPENAI_BASE_URL"] = server.url
        os.environ["OPENAI_API_KEY"] = "bench"
        agent: Any = Agent(resolve_provider(f"openai:{MODEL}"), builtin_tools({}))
        raw_client(server.url)  # warm both paths (imports, connection)
        through_agent(agent)
        raw_times: list[Timing] = []
        agent_times: list[Timing] = []
        events = 0
        for _ in range(args.rounds):  # back to back, so drift in machine load hits both
            raw_times.append(raw_client(server.url))
            elapsed, events = through_agent(agent)
            agent_times.append(elapsed)
        isolated_overhead(server.url, args.rounds)

    print(f"tokens streamed        {args.tokens:>8,}   events to the sink {events:,}")
    for index, label in ((0, "wall"), (1, "cpu ")):
        raw = [t[index] for t in raw_times]
        looped = [t[index] for t in agent_times]
        ratio = statistics.median(a / r for a, r in zip(looped, raw, strict=True))
        print(
            f"{label}  raw client {statistics.median(raw):7.3f} s (min {min(raw):.3f})   "
            f"agent loop {statistics.median(looped):7.3f} s (min {min(looped):.3f})   "
            f"ratio {ratio:.3f}  (min/min {min(looped) / min(raw):.3f})"
        )
    raw_cpu = statistics.median(t[1] for t in raw_times) / args.tokens * 1e6
    print(f"medians of {args.rounds} rounds; the raw SDK spends {raw_cpu:.0f} us CPU per token; target ratio <= 1.10")


if __name__ == "__main__":
    main()
