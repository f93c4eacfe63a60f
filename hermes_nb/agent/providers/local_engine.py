"""llama.cpp in this process, through xllamacpp: load a GGUF file, stream a chat reply.

xllamacpp ships prebuilt wheels of llama.cpp's own C++ server (Linux, macOS, Windows),
so installing the offline model compiles nothing. The server is thread-safe and hands
OpenAI-style chunks to a callback on the calling thread; a worker thread turns that
callback into an iterator the provider can leave at any chunk.

The server also listens on a random port of 127.0.0.1 (xllamacpp always starts it).
A random key, known only to this process, keeps other programs out; we use that port
for the tokenizer, which xllamacpp's Python API does not offer.
"""

from __future__ import annotations

import json
import logging
import queue
import secrets
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hermes_nb.errors import ProviderError

__all__ = ["LocalEngine", "Usage"]

log = logging.getLogger("hermes_nb.providers")

#: seconds to wait for the tokenizer endpoint; it answers in milliseconds
TOKENIZE_TIMEOUT = 30.0
_DONE = object()


@dataclass(frozen=True)
class Usage:
    """Token counts of one reply, as the server counted them."""

    prompt_tokens: int
    completion_tokens: int


class LocalEngine:
    """One loaded model. ``chat`` may be called from several threads: the server
    queues requests and runs one at a time on its single slot."""

    def __init__(self, path: Path, *, n_ctx: int, threads: int | None = None) -> None:
        import xllamacpp

        params = xllamacpp.CommonParams()
        params.model.path = str(path)
        params.n_ctx = n_ctx
        params.n_parallel = 1
        params.verbosity = -1  # llama.cpp logs to fd 2, which a kernel shows in the cell
        params.hostnames = ["127.0.0.1"]
        if threads:
            params.cpuparams.n_threads = threads
            params.cpuparams_batch.n_threads = threads
        self._key = secrets.token_urlsafe(24)
        params.api_keys = [self._key]
        self._server: Any = xllamacpp.Server(params)
        self._url = str(self._server.listening_address).rstrip("/")

    def close(self) -> None:
        """Stop the server's threads and free the model."""
        self._server = None

    def tokenize(self, text: str) -> list[int]:
        """Token ids of ``text``, without the start-of-text token."""
        if not text:
            return []
        reply = self._post("/tokenize", {"content": text, "add_special": False})
        return [int(t) for t in reply.get("tokens", [])]

    def detokenize(self, tokens: list[int]) -> str:
        if not tokens:
            return ""
        return str(self._post("/detokenize", {"tokens": tokens}).get("content", ""))

    def chat(
        self,
        messages: list[dict[str, str]],
        *,
        max_tokens: int,
        temperature: float,
        cancel: threading.Event,
    ) -> Iterator[str | Usage]:
        """Reply text as it is generated, then the ``Usage``. Leaving the iterator (or
        setting ``cancel``) stops generation at the next token."""
        server = self._server
        if server is None:
            raise ProviderError("The offline model was unloaded.")
        request = {
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": temperature,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        chunks: queue.Queue[Any] = queue.Queue()
        stop = threading.Event()

        def on_chunk(chunk: Any) -> bool:
            chunks.put(chunk)
            return stop.is_set()  # True asks the server to stop this reply

        def run() -> None:
            try:
                server.handle_chat_completions(request, on_chunk)
            except BaseException as err:  # noqa: BLE001 - handed to the reading thread
                chunks.put(err)
            finally:
                chunks.put(_DONE)

        worker = threading.Thread(target=run, name="hermes_nb-local-model", daemon=True)
        worker.start()
        try:
            while True:
                try:
                    chunk = chunks.get(timeout=0.05)
                except queue.Empty:
                    if cancel.is_set():
                        return
                    continue
                if chunk is _DONE or cancel.is_set():
                    return
                yield from _read_chunk(chunk)
        finally:
            stop.set()

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(
            self._url + path,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self._key}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=TOKENIZE_TIMEOUT) as reply:
                result = json.loads(reply.read())
        except (OSError, ValueError) as err:
            raise ProviderError(f"The offline model's tokenizer did not answer: {err}") from err
        return result if isinstance(result, dict) else {}


def _read_chunk(chunk: Any) -> Iterator[str | Usage]:
    """Text and usage out of one streamed chunk; an error chunk becomes ProviderError."""
    if isinstance(chunk, BaseException):
        raise ProviderError(f"The offline model failed: {chunk}") from chunk
    if not isinstance(chunk, dict):
        return
    error = chunk.get("error")
    if error:
        message = error.get("message") if isinstance(error, dict) else error
        raise ProviderError(f"The offline model failed: {message}")
    for choice in chunk.get("choices") or []:
        text = (choice.get("delta") or {}).get("content")
        if text:
            yield text
    usage = chunk.get("usage")
    if isinstance(usage, dict):
        yield Usage(int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0)))
