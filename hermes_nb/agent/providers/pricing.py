"""Approximate prices of a few well-known models, to show a cost in the status line.

USD per million tokens (input, output), list prices. Input tokens read from the
provider's prompt cache cost a fraction of the input price (``CACHE_READ``: 10% at
Anthropic and for GPT-5, 25% or 50% for older OpenAI models); tokens written to
Anthropic's cache cost 25% more than plain input. A model not in the table has an
unknown cost (None) rather than a guessed one. Dated variants
(``gpt-4o-mini-2024-07-18``) and router prefixes (``openai/gpt-4o``) match their base;
a newer version of a family (``claude-opus-4-7``) does not inherit an older one's price.
"""

from __future__ import annotations

import re

__all__ = ["CACHE_READ", "CACHE_WRITE", "PRICES", "estimate_cost"]

PRICES: dict[str, tuple[float, float]] = {
    "gpt-5": (1.25, 10.0),
    "gpt-5-mini": (0.25, 2.0),
    "gpt-5-nano": (0.05, 0.40),
    "gpt-4.1": (2.0, 8.0),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4o": (2.50, 10.0),
    "gpt-4o-mini": (0.15, 0.60),
    "o3": (2.0, 8.0),
    "o4-mini": (1.10, 4.40),
    "claude-opus-4": (15.0, 75.0),
    "claude-opus-4-1": (15.0, 75.0),
    "claude-opus-4-5": (5.0, 25.0),
    "claude-sonnet-4": (3.0, 15.0),
    "claude-sonnet-4-5": (3.0, 15.0),
    "claude-sonnet-4-6": (3.0, 15.0),
    "claude-haiku-4-5": (1.0, 5.0),
    "claude-3-7-sonnet": (3.0, 15.0),
    "claude-3-5-haiku": (0.80, 4.0),
}

#: (name prefix, share of the input price paid for a token read from the cache)
CACHE_READ: tuple[tuple[str, float], ...] = (
    ("gpt-5", 0.10),
    ("gpt-4.1", 0.25),
    ("gpt-4o", 0.50),
    ("o3", 0.25),
    ("o4-mini", 0.25),
    ("claude", 0.10),
)
#: share of the input price paid for a token written to the cache (Anthropic, 5 minutes)
CACHE_WRITE = 1.25

#: a release date after a model name: -20250514, -2024-07-18 (or "-latest")
_DATED = re.compile(r"-(\d{8}|\d{4}-\d{2}-\d{2}|latest)$")


def estimate_cost(
    model: str, input_tokens: int, output_tokens: int, cache_read: int = 0, cache_write: int = 0
) -> float | None:
    """Cost in USD of one request, or None when the model's price is unknown.

    ``input_tokens`` counts every prompt token; ``cache_read`` of them came from the
    prompt cache and ``cache_write`` were written to it.
    """
    name = _DATED.sub("", model.rsplit("/", 1)[-1].lower())
    price = PRICES.get(name)
    if price is None:
        return None
    read_share = next((share for prefix, share in CACHE_READ if name.startswith(prefix)), 1.0)
    plain = max(0, input_tokens - cache_read - cache_write)
    billed_input = plain + cache_read * read_share + cache_write * CACHE_WRITE
    return (billed_input * price[0] + output_tokens * price[1]) / 1_000_000
