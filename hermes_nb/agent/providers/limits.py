"""How long one reply may be: the output limit every request carries.

Without a limit a model that loops (a local model streaming newlines) runs until
the user presses Stop, and a hosted one bills every token of it. Each request
therefore names a limit: ``AgentMagics.max_output_tokens`` when set, else a
default per model family below (the families' own maximum where it is small, a
generous budget for reasoning models whose thinking counts against it), else
``DEFAULT_OUTPUT_TOKENS``.

OpenAI's own API calls the field ``max_completion_tokens`` (its reasoning models
refuse ``max_tokens``); Ollama, llama.cpp, vLLM, LM Studio and OpenRouter read
``max_tokens``; Anthropic requires ``max_tokens`` in every request.
"""

from __future__ import annotations

__all__ = ["DEFAULT_OUTPUT_TOKENS", "default_output_limit", "length_notice", "limit_for"]

#: a model the table does not know: long enough for a whole notebook cell of code
DEFAULT_OUTPUT_TOKENS = 8192

#: (name prefix, tokens): the first matching prefix wins, so longer ones come first
_FAMILIES: tuple[tuple[str, int], ...] = (
    ("gpt-5", 32_768),
    ("o1", 32_768),
    ("o3", 32_768),
    ("o4", 32_768),
    ("gpt-4.1", 32_768),
    ("gpt-4o", 16_384),
    ("gpt-4-turbo", 4096),
    ("gpt-4", 8192),
    ("gpt-3.5", 4096),
    ("claude-3-haiku", 4096),
    ("claude-3-opus", 4096),
    ("claude-3-sonnet", 4096),
    ("claude-3-5", 8192),
    ("claude", 16_384),
)


def default_output_limit(model: str) -> int:
    """The output limit of ``model`` when the user has set none."""
    name = model.rsplit("/", 1)[-1].lower()  # router prefixes: openai/gpt-4o
    for prefix, tokens in _FAMILIES:
        if name.startswith(prefix):
            return tokens
    return DEFAULT_OUTPUT_TOKENS


def limit_for(model: str, setting: int | None) -> int:
    """The user's setting when positive, else the model's default."""
    return setting if setting and setting > 0 else default_output_limit(model)


def length_notice(limit: int) -> str:
    """The line shown when a reply reached its output limit."""
    return (
        f"The reply was cut at a length limit ({limit:,} tokens allowed, or the model's "
        "context was full); for longer replies raise %config AgentMagics.max_output_tokens."
    )
