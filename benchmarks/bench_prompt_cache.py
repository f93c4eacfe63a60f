"""Input tokens billed for a 20-step run in a long session, with and without caching.

A ``%%agent``-sized turn of 20 tool steps (21 model requests) on a session of 200
earlier messages (~50,000 tokens), played by the real agent loop and providers
against the local test server, which reports usage as a caching provider would
(``tests/cache_sim.py``: a prefix seen before, up to a cache breakpoint, is a cache
read; Anthropic bills reads at 10% of the input price and writes at 125%).

Prints, per setting: the input tokens of all requests, how many were read from and
written to the cache, the input tokens billed (in full-price tokens) and the cost at
claude-sonnet-4-5's prices; then the same run through the OpenAI protocol (automatic
caching: nothing in the request changes, the cached tokens are only reported).

Run: ``python benchmarks/bench_prompt_cache.py`` (a few seconds).
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from sse_server import ScriptedServer, text_reply, tool_reply  # noqa: E402

from hermes_nb.agent.loop import Agent  # noqa: E402
from hermes_nb.agent.providers.anthropic_provider import AnthropicProvider  # noqa: E402
from hermes_nb.agent.providers.base import UsageChunk  # noqa: E402
from hermes_nb.agent.providers.openai_compat import Endpoint, OpenAICompatProvider  # noqa: E402
from hermes_nb.agent.providers.pricing import CACHE_WRITE  # noqa: E402
from hermes_nb.agent.providers.retry import RetryPolicy  # noqa: E402
from hermes_nb.agent.tools import ToolRegistry  # noqa: E402

STEPS = 20
SESSION = 200  # earlier messages
MODEL = "claude-sonnet-4-5"
READ_SHARE = 0.10
SYSTEM = "You are a data analysis assistant in a Jupyter notebook. " * 20
HISTORY = [
    {"role": "user" if i % 2 == 0 else "assistant", "content": f"Message {i}: " + "the sales data by month " * 40}
    for i in range(SESSION)
]


def inspect_column(name: str) -> str:
    """Summarise one column of the DataFrame."""
    return f"{name}: 1,000 rows, " + "min 0, max 99, mean 49.5; " * 20


def script() -> list[dict[str, Any]]:
    steps = [tool_reply([(f"call_{i}", "inspect_column", {"name": f"col{i}"})], usage=(0, 40)) for i in range(STEPS)]
    return [*steps, text_reply("Every column is summarised above.", usage=(0, 60))]


def play(provider: Any) -> list[UsageChunk]:
    """One 20-step turn; the usage of each request, as the provider reported it."""
    chunks: list[UsageChunk] = []
    stream = provider.stream

    def counted(*args: Any) -> Any:
        for chunk in stream(*args):
            if isinstance(chunk, UsageChunk):
                chunks.append(chunk)
            yield chunk

    provider.stream = counted
    tools = ToolRegistry()
    tools.register(inspect_column, policy="allow")
    agent = Agent(provider, tools, system_prompt=SYSTEM, max_turns=STEPS + 2)
    result = agent.run(HISTORY, "Summarise every column.", lambda event: None, threading.Event())
    assert result.stop_reason == "complete", result.error
    return chunks


def anthropic(cache: bool) -> list[UsageChunk]:
    with ScriptedServer(script(), cache=True) as server:
        provider = AnthropicProvider(f"anthropic:{MODEL}", MODEL, base_url=server.root_url, retry=RetryPolicy(retries=0))
        provider.prompt_cache = cache
        return play(provider)


def openai() -> list[UsageChunk]:
    with ScriptedServer(script(), cache=True) as server:
        endpoint = Endpoint("OpenAI", server.url)
        return play(OpenAICompatProvider("openai:gpt-4.1-mini", "gpt-4.1-mini", endpoint, retry=RetryPolicy(retries=0)))


def report(label: str, chunks: list[UsageChunk]) -> float:
    total = sum(c.input_tokens for c in chunks)
    read = sum(c.cache_read_tokens for c in chunks)
    written = sum(c.cache_write_tokens for c in chunks)
    billed = (total - read - written) + read * READ_SHARE + written * CACHE_WRITE
    cost = sum(c.cost or 0.0 for c in chunks)
    print(
        f"{label:<22} {len(chunks):>3} requests  {total:>10,} input  {read:>10,} read  {written:>8,} written"
        f"  {billed:>10,.0f} billed  ${cost:.3f}"
    )
    return billed


def main() -> None:
    os.environ.setdefault("ANTHROPIC_API_KEY", "sk-ant-bench")
    os.environ.setdefault("OPENAI_API_KEY", "sk-bench")
    print(f"{STEPS}-step run on a session of {SESSION} messages ({MODEL} prices; billed = full-price input tokens)")
    without = report("Anthropic, no cache", anthropic(cache=False))
    with_cache = report("Anthropic, cached", anthropic(cache=True))
    print(f"billed input tokens with caching: {with_cache / without:.1%} of without ({without / with_cache:.1f}x fewer)")
    chunks = openai()
    read = sum(c.cache_read_tokens for c in chunks)
    total = sum(c.input_tokens for c in chunks)
    print(f"OpenAI protocol (gpt-4.1-mini, automatic): {read:,} of {total:,} input tokens reported cached "
          f"({read / total:.1%}); cost ${sum(c.cost or 0 for c in chunks):.4f}")


if __name__ == "__main__":
    main()
