"""The context window: the user's setting, the server's word, a table, then 128k."""

from __future__ import annotations

from typing import Any

import pytest
from notebook_shell import Notebook
from sse_server import ScriptedServer

from hermes_nb.agent.providers import resolve_provider
from hermes_nb.agent.providers.openai_compat import Endpoint, OpenAICompatProvider
from hermes_nb.agent.providers.windows import DEFAULT_WINDOW, known_window, window_from_listing


@pytest.mark.parametrize(
    "model,window",
    [
        ("gpt-4.1-mini", 1_047_576),
        ("gpt-4o-mini", 128_000),
        ("gpt-4", 8_192),
        ("gpt-3.5-turbo", 16_385),
        ("o3-mini", 200_000),
        ("claude-sonnet-4-5", 200_000),
        ("meta-llama/llama-3.3-70b-instruct", 131_072),
        ("Qwen/Qwen2.5-7B-Instruct", 32_768),
        ("qwen3:8b", 32_768),
        ("microsoft/phi-3-mini-128k-instruct", 131_072),
        ("phi3:mini", 4_096),
        ("no-such-model", None),
    ],
)
def test_the_table_knows_common_models(model: str, window: int | None) -> None:
    assert known_window(model) == window


@pytest.mark.parametrize(
    "entry,window",
    [
        ({"id": "m", "max_model_len": 8192}, 8192),  # vLLM
        ({"id": "m", "context_length": 65_536, "top_provider": {"context_length": 32_768}}, 65_536),  # OpenRouter
        ({"id": "m", "max_context_length": 32_768, "loaded_context_length": 4096}, 4096),  # LM Studio
        ({"id": "m", "meta": {"n_ctx_train": 131_072}}, 131_072),  # llama.cpp
        ({"id": "m"}, None),
    ],
)
def test_a_listing_entry_gives_the_window(entry: dict[str, Any], window: int | None) -> None:
    assert window_from_listing({"data": [{"id": "other", "max_model_len": 1}, entry]}, "m") == window


def compat(server: ScriptedServer, model: str) -> OpenAICompatProvider:
    return OpenAICompatProvider(f"compat:{model}", model, Endpoint("Test", server.url, key_required=False))


def test_the_servers_word_wins_over_the_table() -> None:
    with ScriptedServer(models=[{"id": "gpt-4o", "max_model_len": 16_384}]) as server:
        provider = compat(server, "gpt-4o")
        assert provider.context_window == 16_384
        assert provider.context_window == 16_384
        assert server.gets.count("/v1/models") == 1  # asked once


def test_llama_cpp_runs_with_less_than_the_model_was_trained_for() -> None:
    props = {"default_generation_settings": {"n_ctx": 4096}}
    with ScriptedServer(models=[{"id": "model.gguf", "meta": {"n_ctx_train": 131_072}}], props=props) as server:
        assert compat(server, "anything").context_window == 4096


def test_without_the_servers_word_the_table_then_the_default() -> None:
    with ScriptedServer() as server:
        assert compat(server, "llama3.2").context_window == 131_072
        assert compat(server, "house-model").context_window == DEFAULT_WINDOW


def test_a_server_that_does_not_answer_falls_back_quickly() -> None:
    with ScriptedServer() as server:
        url = server.url
    provider = OpenAICompatProvider("compat:gpt-4o", "gpt-4o", Endpoint("Gone", url, key_required=False))
    assert provider.context_window == 128_000


def test_asked_ahead_of_the_first_run_the_window_is_kept() -> None:
    with ScriptedServer(models=[{"id": "gpt-4o", "max_model_len": 16_384}]) as server:
        provider = compat(server, "gpt-4o")
        provider.prefetch_window()
        assert server.gets.count("/v1/models") == 1
        assert provider.context_window == 16_384
        assert server.gets.count("/v1/models") == 1  # the run did not ask again


def test_a_server_started_after_loading_is_asked_again_by_the_first_run() -> None:
    with ScriptedServer() as gone:
        port = gone.port
    provider = OpenAICompatProvider(
        "compat:house-model", "house-model", Endpoint("Later", f"http://127.0.0.1:{port}/v1", key_required=False)
    )
    provider.prefetch_window()  # nothing listens yet
    with ScriptedServer(port=port, models=[{"id": "house-model", "max_model_len": 8192}]) as server:
        assert provider.context_window == 8192
        assert server.gets.count("/v1/models") == 1


def test_ollama_uses_its_own_context_length(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OLLAMA_CONTEXT_LENGTH", raising=False)
    assert resolve_provider("ollama:llama3.1:8b", base_url="http://127.0.0.1:9/v1").context_window == 4096
    monkeypatch.setenv("OLLAMA_CONTEXT_LENGTH", "32768")
    assert resolve_provider("ollama:qwen3", base_url="http://127.0.0.1:9/v1").context_window == 32768


def test_the_setting_wins(nb: Notebook, monkeypatch: pytest.MonkeyPatch) -> None:
    from hermes_nb.kernel import compression

    seen: list[int] = []
    monkeypatch.setattr(compression, "needs_compression", lambda messages, window: seen.append(window) or False)
    nb.use_script("Hi.")
    nb.run("%%agent\nHello").ok()
    nb.run("%config AgentMagics.context_window = 5000").ok()
    nb.run("%%agent\nHello again").ok()
    assert seen == [128_000, 5000]
