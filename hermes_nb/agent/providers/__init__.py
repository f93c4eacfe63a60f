"""Model providers, chosen by a ``provider:model`` string.

    openai:gpt-4.1-mini          OPENAI_API_KEY (OPENAI_BASE_URL honoured)
    openrouter:vendor/model      OPENROUTER_API_KEY
    ollama:llama3.2              a local Ollama (OLLAMA_HOST honoured), no key
    compat:model + base_url      any OpenAI-compatible server (vLLM, llama.cpp, LM Studio)
    anthropic:claude-sonnet-4-5  ANTHROPIC_API_KEY (extra: hermes-nb[anthropic])
    local:smollm2                the built-in offline model (extra: hermes-nb[local])
    replay:path/to/script.json   plays back a scripted or recorded conversation

Importing this package imports no SDK: each provider imports its own when it is
first used, so ``%load_ext hermes_nb`` stays fast.

Part of the agent layer: may import the rest of ``hermes_nb.agent``, store (the
replay provider reads a session's journal), safety and errors; no Jupyter.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Mapping

from hermes_nb.agent.providers.base import Provider
from hermes_nb.agent.providers.openai_compat import Endpoint, OpenAICompatProvider
from hermes_nb.agent.providers.retry import RetryPolicy
from hermes_nb.errors import UnknownModelError

__all__ = [
    "PROVIDERS",
    "Provider",
    "RetryPolicy",
    "default_model_spec",
    "model_setup_help",
    "parse_spec",
    "resolve_provider",
]

#: provider name -> what it needs, shown when a spec is not understood
PROVIDERS: dict[str, str] = {
    "openai": "openai:<model> (key in OPENAI_API_KEY)",
    "anthropic": "anthropic:<model> (key in ANTHROPIC_API_KEY)",
    "openrouter": "openrouter:<vendor/model> (key in OPENROUTER_API_KEY)",
    "ollama": "ollama:<model> (a running Ollama, no key)",
    "compat": "compat:<model> with a base URL (vLLM, llama.cpp server, LM Studio)",
    "local": "local:smollm2 (built-in offline model)",
    "replay": "replay:<script.json> (plays back a scripted conversation)",
}
_ALIASES = {"openai-compatible": "compat", "openai_compatible": "compat"}
EXAMPLE_SPEC = "openai:gpt-4.1-mini"
OPENROUTER_URL = "https://openrouter.ai/api/v1"
OLLAMA_PORT = 11434
OLLAMA_DEFAULT_WINDOW = 4096

_cache: dict[tuple[str, str | None, str | None], Provider] = {}
_cache_lock = threading.Lock()


def _unknown(spec: object, why: str) -> UnknownModelError:
    available = "; ".join(PROVIDERS.values())
    return UnknownModelError(f"{why} {spec!r}. Available: {available}. Example: {EXAMPLE_SPEC!r}.")


def parse_spec(spec: str, base_url: str | None = None) -> tuple[str, str]:
    """Split ``provider:model`` (only at the first colon: ``ollama:qwen3:8b`` is fine).

    A bare model name is accepted only with a ``base_url`` (an OpenAI-compatible server).
    """
    if not isinstance(spec, str) or not spec.strip():
        raise _unknown(spec, "No model given:")
    name, sep, model = spec.strip().partition(":")
    if not sep:
        if base_url:
            return "compat", name
        raise _unknown(spec, "A model needs its provider, as provider:model, not")
    provider = _ALIASES.get(name.strip().lower(), name.strip().lower())
    model = model.strip()
    if provider not in PROVIDERS:
        raise _unknown(spec, f"Unknown provider {name!r} in")
    if not model:
        raise _unknown(spec, "No model name in")
    return provider, model


def resolve_provider(
    spec: str,
    *,
    base_url: str | None = None,
    api_key_env: str | None = None,
    retry: RetryPolicy | None = None,
) -> Provider:
    """The provider for ``spec``; the same instance for the same arguments.

    ``base_url`` points an OpenAI-protocol (or Anthropic) provider at another server;
    ``api_key_env`` names the variable holding its key. Keys themselves are never
    passed in: they are read from the environment for each request.
    """
    provider, model = parse_spec(spec, base_url)
    if provider == "replay":  # re-read each time, so an edited script takes effect
        return _replay(spec, model)
    if provider == "local":  # cheap, and right even if the packages went away
        from hermes_nb.agent.providers.local import check_local_model

        check_local_model(model)
    key = (spec.strip(), base_url, api_key_env)
    with _cache_lock:
        cached = _cache.get(key)
        if cached is not None and retry is None:
            return cached
    made = _build(spec.strip(), provider, model, base_url, api_key_env, retry)
    with _cache_lock:
        if retry is None:
            made = _cache.setdefault(key, made)
    return made


def _build(
    spec: str,
    provider: str,
    model: str,
    base_url: str | None,
    api_key_env: str | None,
    retry: RetryPolicy | None,
) -> Provider:
    if provider == "local":
        from hermes_nb.agent.providers.local import LocalProvider

        return LocalProvider(spec, model)
    if provider == "anthropic":
        from hermes_nb.agent.providers.anthropic_provider import AnthropicProvider

        return AnthropicProvider(spec, model, base_url=base_url, key_env=api_key_env or "ANTHROPIC_API_KEY", retry=retry)
    return OpenAICompatProvider(spec, model, _endpoint(provider, base_url, api_key_env), retry=retry)


def _endpoint(provider: str, base_url: str | None, api_key_env: str | None) -> Endpoint:
    """Where each OpenAI-protocol provider lives and which variable holds its key."""
    if provider == "openai":
        return Endpoint(
            "OpenAI", base_url, "OPENAI_BASE_URL", api_key_env or "OPENAI_API_KEY", limit_field="max_completion_tokens"
        )
    if provider == "openrouter":
        return Endpoint(
            "OpenRouter",
            base_url or OPENROUTER_URL,
            key_env=api_key_env or "OPENROUTER_API_KEY",
            headers=(("X-Title", "hermes_nb"),),
        )
    if provider == "ollama":
        url = base_url or ollama_base_url(os.environ.get("OLLAMA_HOST"))
        return Endpoint(
            "Ollama", url, key_env=api_key_env, key_required=False, free=True, window=ollama_window()
        )
    if not base_url:
        raise UnknownModelError(
            "An OpenAI-compatible model needs the server's URL: pass base_url "
            "(e.g. %config AgentMagics.base_url = 'http://localhost:8000/v1')."
        )
    # Only an explicitly named variable: never send OPENAI_API_KEY to another server.
    return Endpoint("The OpenAI-compatible server", base_url, key_env=api_key_env, key_required=bool(api_key_env))


def ollama_window() -> int:
    """Ollama cuts every prompt to its context length (``OLLAMA_CONTEXT_LENGTH``,
    4096 by default) whatever the model could take."""
    try:
        return max(256, int(os.environ.get("OLLAMA_CONTEXT_LENGTH") or OLLAMA_DEFAULT_WINDOW))
    except ValueError:
        return OLLAMA_DEFAULT_WINDOW


def ollama_base_url(host: str | None) -> str:
    """OLLAMA_HOST (``host``, ``host:port`` or a URL; a bind-all address means this
    machine) as an OpenAI-protocol base URL."""
    host = (host or "").strip() or f"127.0.0.1:{OLLAMA_PORT}"
    scheme, sep, rest = host.partition("://")
    if not sep:
        scheme, rest = "http", host
    rest = rest.rstrip("/")
    hostport, _, path = rest.partition("/")
    name, colon, port = hostport.rpartition(":")
    if not colon or "]" in port:
        default = {"http": 80, "https": 443}.get(scheme, OLLAMA_PORT) if sep else OLLAMA_PORT
        name, port = hostport, str(default)
    if name in ("", "0.0.0.0", "[::]", "::"):
        name = "127.0.0.1"
    return f"{scheme}://{name}:{port}{'/' + path if path else ''}/v1"


def _replay(spec: str, path: str) -> Provider:
    from hermes_nb.agent.providers.replay import ReplayProvider

    return ReplayProvider(path, spec=spec)


def _local_installed() -> bool:
    """True when the offline model's packages are present (looked up, not imported)."""
    from hermes_nb.agent.providers.local import LOCAL_PACKAGES

    return all(importlib.util.find_spec(name) is not None for name in LOCAL_PACKAGES)


def default_model_spec(environ: Mapping[str, str] | None = None) -> str | None:
    """HERMES_NB_MODEL, else the built-in offline model when installed, else None."""
    env = os.environ if environ is None else environ
    chosen = (env.get("HERMES_NB_MODEL") or "").strip()
    if chosen:
        return chosen
    return "local:smollm2" if _local_installed() else None


def model_setup_help() -> str:
    """What to do when no model is configured, in a few lines for the cell."""
    from hermes_nb.agent.providers.install_hint import local_install_command

    return (
        "No model is configured for %%agent. Either:\n"
        "  - install the small built-in offline model (no key, runs on the CPU):\n"
        f"      {local_install_command()}\n"
        "  - or use a hosted model: set OPENAI_API_KEY (or ANTHROPIC_API_KEY, OPENROUTER_API_KEY)\n"
        "    in the environment before starting Jupyter, then choose it with\n"
        f"      %config AgentMagics.model = \"{EXAMPLE_SPEC}\"   (or set HERMES_NB_MODEL)"
    )
