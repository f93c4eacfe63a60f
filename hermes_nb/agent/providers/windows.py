"""How many tokens of context a model accepts.

Compression starts at a share of the window, so a wrong figure either loses the
conversation to a server that silently cuts the prompt (too large) or summarises
too early (too small). In order of trust:

1. ``AgentMagics.context_window`` (the user's word; applied by the magic);
2. the server's word: an OpenAI-compatible ``/models`` entry with
   ``context_length`` (OpenRouter), ``max_model_len`` (vLLM),
   ``max_context_length`` / ``loaded_context_length`` (LM Studio), or llama.cpp
   server's ``/props`` (``n_ctx`` of the running server);
3. the table below of common models (by name, vendor prefixes and tags ignored);
4. ``DEFAULT_WINDOW``.

Where a table entry covers a family whose members differ, it gives the smaller
figure: summarising early costs little, a prompt cut by the server loses context.
"""

from __future__ import annotations

import logging
import re
from typing import Any

__all__ = ["DEFAULT_WINDOW", "KNOWN_WINDOWS", "known_window", "window_from_listing", "window_from_props"]

log = logging.getLogger("hermes_nb.providers")

DEFAULT_WINDOW = 128_000

#: name prefix -> tokens; the longest matching prefix wins
KNOWN_WINDOWS: dict[str, int] = {
    # OpenAI
    "gpt-5": 400_000,
    "gpt-4.1": 1_047_576,
    "gpt-4o": 128_000,
    "chatgpt-4o": 128_000,
    "gpt-4-turbo": 128_000,
    "gpt-4-32k": 32_768,
    "gpt-4": 8_192,
    "gpt-3.5-turbo": 16_385,
    "o1-mini": 128_000,
    "o1": 200_000,
    "o3": 200_000,
    "o4-mini": 200_000,
    "gpt-oss": 131_072,
    # Anthropic
    "claude": 200_000,
    # Google
    "gemini-1.5-pro": 2_097_152,
    "gemini-1.5-flash": 1_048_576,
    "gemini-2": 1_048_576,
    "gemma-2": 8_192,
    "gemma2": 8_192,
    "gemma-3": 32_768,
    "gemma3": 32_768,
    # Meta
    "llama-3.1": 131_072,
    "llama3.1": 131_072,
    "llama-3.2": 131_072,
    "llama3.2": 131_072,
    "llama-3.3": 131_072,
    "llama3.3": 131_072,
    "llama-4": 131_072,
    "llama-3": 8_192,
    "llama3": 8_192,
    "llama-2": 4_096,
    "llama2": 4_096,
    # Mistral
    "mistral-large": 131_072,
    "mistral-nemo": 131_072,
    "mistral-small": 32_768,
    "mixtral": 32_768,
    "mistral": 32_768,
    "codestral": 32_768,
    # Qwen, DeepSeek, Microsoft, others
    "qwen3": 32_768,
    "qwen2.5": 32_768,
    "qwen2": 32_768,
    "qwq": 32_768,
    "deepseek": 65_536,
    "phi-4": 16_384,
    "phi4": 16_384,
    "phi-3": 4_096,
    "phi3": 4_096,
    "smollm2": 8_192,
    "command-r": 131_072,
}

_SIZE_IN_NAME = re.compile(r"(?<![0-9])(4|8|16|32|64|128|200|256)k(?![a-z0-9])")


def _base_name(model: str) -> str:
    """``meta-llama/Llama-3.3-70B-Instruct`` -> ``llama-3.3-70b-instruct``; ``qwen3:8b`` -> ``qwen3``."""
    name = model.strip().lower().rsplit("/", 1)[-1]
    return name.split(":", 1)[0]


def known_window(model: str) -> int | None:
    """The window of a common model, by name; None when the name is not known."""
    name = _base_name(model)
    sized = _SIZE_IN_NAME.search(name)  # e.g. phi-3-mini-128k-instruct
    if sized:
        return int(sized.group(1)) * 1024
    best = max((p for p in KNOWN_WINDOWS if name.startswith(p)), key=len, default=None)
    return KNOWN_WINDOWS[best] if best is not None else None


_ENTRY_KEYS = ("loaded_context_length", "max_model_len", "context_length", "max_context_length", "context_window", "n_ctx")


def _positive(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value) if value >= 256 else None


def _entry_window(entry: dict[str, Any]) -> int | None:
    for key in _ENTRY_KEYS:
        found = _positive(entry.get(key))
        if found:
            return found
    provider = entry.get("top_provider")
    if isinstance(provider, dict) and _positive(provider.get("context_length")):
        return _positive(provider.get("context_length"))
    meta = entry.get("meta")
    if isinstance(meta, dict):
        return _positive(meta.get("n_ctx")) or _positive(meta.get("n_ctx_train"))
    return None


def window_from_listing(listing: Any, model: str) -> int | None:
    """The window an OpenAI-compatible ``/models`` answer gives for ``model``."""
    data = listing.get("data") if isinstance(listing, dict) else listing
    if not isinstance(data, list):
        return None
    entries = [e for e in data if isinstance(e, dict)]
    wanted = model.strip().lower()
    match = [e for e in entries if str(e.get("id", "")).lower() == wanted]
    if not match:
        match = [e for e in entries if _base_name(str(e.get("id", ""))) == _base_name(model)]
    if not match and len(entries) == 1:  # a server that serves one model (llama.cpp, vLLM)
        match = entries
    return _entry_window(match[0]) if match else None


def window_from_props(props: Any) -> int | None:
    """llama.cpp server's ``/props``: the context of the running server."""
    if not isinstance(props, dict):
        return None
    settings = props.get("default_generation_settings")
    if isinstance(settings, dict) and _positive(settings.get("n_ctx")):
        return _positive(settings.get("n_ctx"))
    return _positive(props.get("n_ctx"))
