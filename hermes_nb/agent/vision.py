"""Which models are sent images: a table of common models, and the user's setting.

Models that accept images get a tool's figures as images; the others get one line
saying what the user saw. A model missing from the table is treated as text-only
(an image sent to a text-only model makes the whole request fail); the setting
``AgentMagics.vision`` overrides the table: ``"auto"`` (the table), ``True``,
``False``, or model-name patterns (``fnmatch``) of models that accept images.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from typing import Any

__all__ = ["VISION_MODELS", "TEXT_ONLY_MODELS", "accepts_images", "model_name", "parse_setting"]

#: model-name patterns (lower case, without the provider or an org prefix) that accept images
VISION_MODELS: tuple[str, ...] = (
    "gpt-4o*", "chatgpt-4o*", "gpt-4.1*", "gpt-4.5*", "gpt-5*", "gpt-4-turbo*", "gpt-4-vision*",
    "o1", "o1-2*", "o3", "o3-2*", "o3-pro*", "o4-mini*",
    "claude-3*", "claude-sonnet-4*", "claude-opus-4*", "claude-haiku-4*", "claude-*-4-*",
    "gemini*", "gemma-3*", "gemma3*",
    "llava*", "bakllava*", "llama3.2-vision*", "llama-3.2-*vision*", "llama4*", "llama-4*",
    "qwen-vl*", "qwen2-vl*", "qwen2.5-vl*", "qwen2.5vl*", "qwen3-vl*",
    "pixtral*", "mistral-small-3.1*", "mistral-small-3.2*", "mistral-medium*",
    "minicpm-v*", "moondream*", "grok-*vision*", "grok-4*",
)
#: checked first: names the patterns above would match but that take text only
TEXT_ONLY_MODELS: tuple[str, ...] = ("*-audio*", "*-realtime*", "*-search-*", "gemma3:1b*", "gemma-3-1b*")

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def parse_setting(value: Any) -> bool | str | tuple[str, ...]:
    """``"auto"``, True, False, or a tuple of patterns; ValueError for anything else."""
    if isinstance(value, bool):
        return value
    if value is None:
        return "auto"
    if isinstance(value, str):
        word = value.strip().lower()
        if word in ("", "auto"):
            return "auto"
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
        return tuple(p.strip() for p in value.split(",") if p.strip())
    if isinstance(value, (list, tuple)) and all(isinstance(p, str) for p in value):
        return tuple(value)
    raise ValueError(
        f"vision must be 'auto', True, False or a list of model-name patterns, not {value!r}"
    )


def model_name(provider: Any) -> str:
    """The bare model name of a provider (``openai/gpt-4o`` and ``openai:gpt-4o`` give ``gpt-4o``)."""
    name = getattr(provider, "model", None) or str(getattr(provider, "spec", "")).split(":", 1)[-1]
    return str(name).rsplit("/", 1)[-1].lower()


def accepts_images(provider: Any, setting: Any = "auto") -> bool:
    """Whether this provider's model is sent images."""
    choice = parse_setting(setting)
    if isinstance(choice, bool):
        return choice
    name = model_name(provider)
    if isinstance(choice, tuple) and _matches(name, (p.lower() for p in choice)):
        return True
    declared = getattr(provider, "accepts_images", None)  # e.g. a replay script's "vision"
    if isinstance(declared, bool):
        return declared
    if _matches(name, TEXT_ONLY_MODELS):
        return False
    return _matches(name, VISION_MODELS)


def _matches(name: str, patterns: Iterable[str]) -> bool:
    full = name
    return any(fnmatch.fnmatchcase(full, p) for p in patterns)
