"""The built-in offline model really generating text (the ``local`` extra is installed in CI)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from hermes_nb.agent.providers import local, resolve_provider
from hermes_nb.agent.providers.base import TextDelta, UsageChunk
from hermes_nb.agent.providers.local import (
    N_CTX,
    LocalProvider,
    fit_to_context,
    gguf_path,
    load_model,
    to_plain_chat,
)
from hermes_nb.errors import ProviderError

QUESTION = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Say hello in one short sentence."},
]


def test_generates_a_short_reply() -> None:
    provider = LocalProvider(max_tokens=24)
    chunks = list(provider.stream(QUESTION, [], threading.Event()))
    text = "".join(c.text for c in chunks if isinstance(c, TextDelta))
    assert text.strip()
    usage = chunks[-1]
    assert isinstance(usage, UsageChunk)
    assert usage.cost == 0.0 and usage.input_tokens > 10 and 0 < usage.output_tokens <= 24


def test_resolved_once_per_process_and_plain_chat_only() -> None:
    provider = resolve_provider("local:smollm2")
    assert resolve_provider("local:smollm2") is provider
    assert load_model() is load_model()
    assert provider.supports_tools is False
    assert provider.context_window == N_CTX
    assert gguf_path().suffix == ".gguf" and gguf_path().stat().st_size > 10_000_000


def test_cancel_stops_between_tokens() -> None:
    provider = LocalProvider(max_tokens=200)
    cancel = threading.Event()
    chunks: list[Any] = []
    stopped_at = 0.0
    for chunk in provider.stream([{"role": "user", "content": "Tell me a long story about a cat."}], [], cancel):
        chunks.append(chunk)
        if len(chunks) == 3:
            cancel.set()
            stopped_at = time.monotonic()
    assert len(chunks) == 3
    assert time.monotonic() - stopped_at < 1.0


def test_history_longer_than_the_context_is_trimmed() -> None:
    history: list[dict[str, Any]] = [{"role": "system", "content": "Be brief."}]
    for i in range(60):
        history.append({"role": "user", "content": f"Question {i}: " + "data " * 60})
        history.append({"role": "assistant", "content": f"Answer {i}: " + "words " * 60})
    history.append({"role": "user", "content": "What is 2+2?"})
    llm = load_model()
    kept = fit_to_context(llm, to_plain_chat(history), 1024)
    assert kept[0] == {"role": "system", "content": "Be brief."}
    assert kept[-1] == {"role": "user", "content": "What is 2+2?"}
    assert 3 < len(kept) < len(history)
    used = sum(len(llm.tokenize(m["content"])) + 4 for m in kept)
    assert used <= 1024
    chunks = list(LocalProvider(max_tokens=8, max_prompt_tokens=200).stream(history, [], threading.Event()))
    assert isinstance(chunks[-1], UsageChunk) and chunks[-1].input_tokens <= 200


def test_one_huge_message_is_cut_from_the_front() -> None:
    llm = load_model()
    kept = fit_to_context(llm, [{"role": "user", "content": "blah " * 3000 + "the end"}], 200)
    assert len(kept) == 1 and kept[0]["content"].endswith("the end")
    assert len(llm.tokenize(kept[0]["content"])) <= 200


def test_tool_history_becomes_plain_chat() -> None:
    messages = [
        {"role": "user", "content": "files?"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "list_files", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "a.csv"},
        {"role": "marker", "kind": "error", "content": "x"},
        {"role": "assistant", "content": "One file."},
    ]
    assert to_plain_chat(messages) == [
        {"role": "user", "content": "files?"},
        {"role": "assistant", "content": "(called list_files)"},
        {"role": "user", "content": "(tool result) a.csv"},
        {"role": "assistant", "content": "One file."},
    ]


def test_loading_and_generating_print_nothing() -> None:
    """llama.cpp logs to the process's fd 2, which a kernel forwards into the cell."""
    code = (
        "import threading\n"
        "from hermes_nb.agent.providers.local import LocalProvider\n"
        "chunks = list(LocalProvider(max_tokens=4).stream("
        "[{'role': 'user', 'content': 'hi'}], [], threading.Event()))\n"
        "assert chunks\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr == ""


def test_the_engines_port_refuses_other_programs() -> None:
    """xllamacpp always listens on a local port; without this process's key it answers 401."""
    engine = load_model()
    request = urllib.request.Request(
        engine._url + "/v1/chat/completions",
        data=json.dumps({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=30)
    assert info.value.code == 401
    assert engine._url.startswith("http://127.0.0.1:")


def test_a_server_error_becomes_a_provider_error() -> None:
    engine = load_model()
    too_long = [{"role": "user", "content": "word " * (N_CTX * 2)}]
    with pytest.raises(ProviderError, match="context size"):
        list(engine.chat(too_long, max_tokens=4, temperature=0.2, cancel=threading.Event()))


def test_two_threads_share_the_model() -> None:
    """The server queues concurrent requests; each gets its own whole reply."""
    replies: dict[int, list[Any]] = {}

    def ask(n: int) -> None:
        replies[n] = list(LocalProvider(max_tokens=12).stream(QUESTION, [], threading.Event()))

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=240)
    for chunks in replies.values():
        assert isinstance(chunks[-1], UsageChunk) and 0 < chunks[-1].output_tokens <= 12
        assert "".join(c.text for c in chunks if isinstance(c, TextDelta)).strip()
    assert len(replies) == 2


def test_a_broken_model_file_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + bytes(64))
    monkeypatch.setattr(local, "_model", None)
    monkeypatch.setattr(local, "gguf_path", lambda: broken)
    with pytest.raises(ProviderError, match="could not be loaded from .*broken.gguf"):
        local.load_model()
    assert local._model is None
