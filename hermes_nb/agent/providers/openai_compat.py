"""OpenAI chat completions, and every server that speaks the same protocol.

One client for OpenAI, OpenRouter, Ollama and OpenAI-compatible servers (vLLM,
llama.cpp server, LM Studio); an ``Endpoint`` says where to send requests and which
variable holds the key. The key is read from the environment for each request and
never kept on the provider, logged or put in a message.

The SDK sends the request (auth, base URL, headers, status errors); the event stream
of the body is read here as plain dicts (see ``sse.py`` for why). The request body is
encoded here too (``body.py``): the SDK's per-request validation of every message
costs seconds on a long history, and the history that did not change since the last
step of a turn is encoded once.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from hermes_nb.agent.providers.base import (
    Chunk,
    Provider,
    ReasoningDelta,
    StreamNotice,
    TextDelta,
    UsageChunk,
)
from hermes_nb.agent.providers.body import BodyEncoder
from hermes_nb.agent.providers.common import (
    KEY_HINT,
    PendingCall,
    connection_failure,
    error_field,
    is_transport_error,
    public_url,
    scrub,
    server_message,
)
from hermes_nb.agent.providers.limits import length_notice, limit_for
from hermes_nb.agent.providers.pricing import estimate_cost
from hermes_nb.agent.providers.retry import (
    RetryableError,
    RetryPolicy,
    parse_retry_after,
    with_retries,
)
from hermes_nb.agent.providers.sse import StreamErrorEvent, sse_data
from hermes_nb.agent.providers.streamguard import guarded_stream
from hermes_nb.agent.providers.windows import (
    DEFAULT_WINDOW,
    known_window,
    window_from_listing,
    window_from_props,
)
from hermes_nb.errors import (
    AuthenticationError,
    HermesError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitError,
    ToolsRefusedError,
    UnknownModelError,
)
from hermes_nb.safety.redact import redact_url

__all__ = ["Endpoint", "OpenAICompatProvider", "server_window"]

log = logging.getLogger("hermes_nb.providers")

#: how servers say a model cannot take tools (Ollama: "... does not support tools")
_NO_TOOLS = re.compile(
    r"does not support (?:tools|tool[ _-]?(?:use|calling|calls)|function[ _-]?calling)"
    r"|tools? (?:are|is) not supported",
    re.IGNORECASE,
)

#: seconds to wait for a server's model listing (asked once per provider)
LISTING_TIMEOUT = 5.0

#: seconds to wait for the server to answer and between two pieces of its reply
#: (``AgentMagics.request_timeout`` sets it per run)
READ_TIMEOUT = 120.0
#: seconds a reply may bring no content (``AgentMagics.stream_idle_timeout``)
IDLE_TIMEOUT = 120.0
CONNECT_TIMEOUT = 10.0


@dataclass(frozen=True)
class Endpoint:
    """Where an OpenAI-protocol provider sends requests and how it authenticates."""

    label: str = "OpenAI"
    base_url: str | None = None
    #: read at request time when ``base_url`` is None (OpenAI honours OPENAI_BASE_URL)
    base_url_env: str | None = None
    key_env: str | None = "OPENAI_API_KEY"
    key_required: bool = True
    headers: tuple[tuple[str, str], ...] = ()
    #: servers on the user's machine cost nothing; unknown remote models cost None
    free: bool = False
    #: the context window the server imposes whatever the model (Ollama's num_ctx);
    #: None: ask the server's ``/models``, else the table of known models
    window: int | None = None
    #: the request field of the output limit: OpenAI's own API wants
    #: ``max_completion_tokens`` (see limits.py), every other server ``max_tokens``
    limit_field: str = "max_tokens"

    def resolved_base_url(self) -> str | None:
        if self.base_url:
            return self.base_url
        if self.base_url_env:
            return os.environ.get(self.base_url_env) or None
        return None


class OpenAICompatProvider(Provider):
    """Streams chat completions through the official ``openai`` SDK (sync client)."""

    def __init__(
        self,
        spec: str,
        model: str,
        endpoint: Endpoint | None = None,
        *,
        retry: RetryPolicy | None = None,
        read_timeout: float = READ_TIMEOUT,
        idle_timeout: float = IDLE_TIMEOUT,
    ) -> None:
        self.spec = spec
        self.model = model
        self.endpoint = endpoint or Endpoint()
        self.retry = retry or RetryPolicy.from_env()
        self.read_timeout = read_timeout
        self.idle_timeout = idle_timeout
        self._context_window: int | None = None
        self._http: Any = None
        self._sdk: tuple[tuple[str, str | None], Any] | None = None
        self._http_lock = threading.Lock()
        self._window_lock = threading.Lock()
        self._body = BodyEncoder()

    # -- public

    @property  # type: ignore[override]
    def context_window(self) -> int:
        """The server's word, else the table of known models, else 128,000 (looked up
        once: a run asking while the prewarm thread asks waits for its answer)."""
        with self._window_lock:
            if self._context_window is None:
                self._context_window = self._lookup_window()
            return self._context_window

    @context_window.setter
    def context_window(self, value: int) -> None:
        self._context_window = value

    def _lookup_window(self) -> int:
        if self.endpoint.window:
            return self.endpoint.window
        base = self.endpoint.resolved_base_url()
        found = server_window(base, self.model, self._window_key(), http=self._pool()) if base else None
        if found is None:
            found = known_window(self.model)
        if found is None:
            log.debug("context window of %s unknown; assuming %d", self.model, DEFAULT_WINDOW)
        return found or DEFAULT_WINDOW

    def _window_key(self) -> str | None:
        env = self.endpoint.key_env
        key = os.environ.get(env, "").strip() if env else ""
        return key or None

    def stream(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        cancel: threading.Event,
    ) -> Iterator[Chunk]:
        key = self._api_key()
        limit = limit_for(self.model, self.max_output_tokens)
        params: dict[str, Any] = {
            "model": self.model,
            "stream": True,
            "stream_options": {"include_usage": True},
            self._limit_field(): limit,
        }
        # where to send it is decided now: a request still opening after a cancel must
        # not follow OPENAI_BASE_URL to wherever it points by then
        base_url = self.endpoint.resolved_base_url()
        if tools and self.supports_tools:
            body = self._body.encode({**params, "tools": tools}, messages)
            try:
                yield from with_retries(lambda: self._attempt(key, base_url, body, cancel), self.retry, cancel)
                return
            except ToolsRefusedError as refused:
                # remembered on this provider, which lives as long as the kernel
                self.supports_tools = False
                yield StreamNotice(
                    f"{self.spec or self.model} cannot call tools ({refused}); running as plain chat."
                )
        body = self._body.encode(params, messages)
        yield from with_retries(lambda: self._attempt(key, base_url, body, cancel), self.retry, cancel)

    def _limit_field(self) -> str:
        """``max_completion_tokens`` for OpenAI itself; ``max_tokens`` once
        OPENAI_BASE_URL points the same provider at another server."""
        base = self.endpoint.resolved_base_url()
        if base and "api.openai.com" not in base:
            return "max_tokens"
        return self.endpoint.limit_field

    # -- one request

    def _attempt(
        self, key: str, base_url: str | None, body: bytes, cancel: threading.Event
    ) -> Iterator[Chunk]:
        return guarded_stream(
            cancel,
            lambda touch: self._open(key, base_url, body, touch),
            lambda response, touch: self._read(response.iter_lines(), cancel, touch),
            lambda err: self._translate(err, key),
            idle_timeout=self.idle_timeout,
            label=self.endpoint.label,
        )

    def _open(self, key: str, base_url: str | None, body: bytes, touch: Callable[[], None]) -> Any:
        """Send the encoded request through the SDK (auth, base URL, headers, status
        errors) and return its raw, still unread, streaming response."""
        client = self._client(key, base_url)
        touch()  # the idle clock starts when the request leaves
        return client.post(
            "/chat/completions",
            cast_to=_response_class(self._pool()),
            content=body,
            options={"headers": {"Content-Type": "application/json"}},
            stream=True,
        )

    def _read(
        self, lines: Iterable[str], cancel: threading.Event, touch: Callable[[], None] = lambda: None
    ) -> Iterator[Chunk]:
        """The hot path: one small dict per chunk, no per-token work beyond the deltas."""
        pending: list[PendingCall] = []
        by_index: dict[int, PendingCall] = {}
        usage: dict[str, Any] | None = None
        finish = None
        is_set = cancel.is_set
        loads = json.loads
        for data in sse_data(lines):
            if is_set():
                return
            if data == "[DONE]":
                break
            chunk = loads(data)
            if not isinstance(chunk, dict):
                raise ValueError(f"a chunk that is not an object: {data[:80]}")
            if "error" in chunk:
                raise StreamErrorEvent(_error_text(chunk["error"]))
            if chunk.get("usage"):
                usage = chunk["usage"]
            choices = chunk.get("choices")
            if not choices:
                continue
            choice = choices[0]
            delta = choice.get("delta")
            if delta:
                text = delta.get("content") or delta.get("refusal")
                if text and isinstance(text, str):
                    touch()
                    yield TextDelta(text)
                calls = delta.get("tool_calls")
                if calls:
                    touch()
                    _collect(pending, by_index, calls)
                reasoning = delta.get("reasoning_content") or delta.get("reasoning")
                if reasoning and isinstance(reasoning, str):
                    touch()
                    yield ReasoningDelta(reasoning)
            if choice.get("finish_reason"):
                finish = choice["finish_reason"]
        if is_set():
            return
        if finish is None:
            raise RetryableError(
                "the reply stopped early",
                ProviderUnavailableError,
                f"{self.endpoint.label} keeps cutting its replies short",
            )
        if finish == "length":
            yield StreamNotice(length_notice(limit_for(self.model, self.max_output_tokens)))
        for call in pending:
            yield call.request()
        if usage is not None:
            yield self._usage(usage)

    def _usage(self, usage: dict[str, Any]) -> UsageChunk:
        tokens_in = int(usage.get("prompt_tokens") or 0)
        tokens_out = int(usage.get("completion_tokens") or 0)
        details = usage.get("prompt_tokens_details")
        cached = details.get("cached_tokens") if isinstance(details, dict) else None
        cached = min(tokens_in, int(cached)) if isinstance(cached, (int, float)) and cached > 0 else 0
        cost: float | None
        if isinstance(usage.get("cost"), (int, float)):
            cost = float(usage["cost"])  # OpenRouter reports what it charged
        elif self.endpoint.free:
            cost = 0.0
        else:
            cost = estimate_cost(self.model, tokens_in, tokens_out, cache_read=cached)
        return UsageChunk(input_tokens=tokens_in, output_tokens=tokens_out, cost=cost, cache_read_tokens=cached)

    # -- client and key

    def _api_key(self) -> str:
        """The key for this request, checked before anything is sent."""
        env = self.endpoint.key_env
        key = os.environ.get(env, "").strip() if env else ""
        if key:
            return key
        if self.endpoint.key_required:
            raise AuthenticationError(
                f"No API key for {self.endpoint.label}: {KEY_HINT.format(env=env)}"
            )
        return "not-needed"

    def _client(self, key: str, base_url: str | None) -> Any:
        """The SDK client for this key and base URL, over one shared connection pool.

        The pool (slow to build: SSL context) lives on the provider, and so does the
        last client built (about 0.3 ms a request in a busy kernel): a changed key or
        base URL builds a new one.
        """
        import openai

        pool = self._pool()
        with self._http_lock:
            if self._sdk is not None and self._sdk[0] == (key, base_url):
                return self._sdk[1]
        client = openai.OpenAI(
            api_key=key,
            base_url=base_url,
            http_client=pool,
            max_retries=0,
            timeout=self._timeout(),
            default_headers=dict(self.endpoint.headers) or None,
        )
        with self._http_lock:
            self._sdk = ((key, base_url), client)
        return client

    def _timeout(self) -> Any:
        import openai

        return openai.Timeout(self.read_timeout, connect=CONNECT_TIMEOUT)

    def _pool(self) -> Any:
        """The provider's connection pool (its TLS context takes a while to build)."""
        with self._http_lock:
            if self._http is None:
                import openai

                self._http = openai.DefaultHttpxClient(timeout=self._timeout())
            return self._http

    def prepare(self) -> None:
        self._pool()

    def prefetch_window(self) -> None:
        """Ask the server for the context window ahead of the first run (prewarm).

        Kept only when the server answers: one not started yet (a local server started
        after ``%load_ext``) is asked again by the first run, which keeps whatever it gets.
        """
        base = self.endpoint.resolved_base_url()
        with self._window_lock:
            if self._context_window is not None or self.endpoint.window or not base:
                return
            try:
                found = _ask_window(self._pool(), base.rstrip("/"), self.model, _auth(self._window_key()))
            except Exception as exc:  # not answering (yet)
                log.debug("prewarm: could not ask %s for the context window: %s", redact_url(base), exc)
                return
            self._context_window = found or known_window(self.model) or DEFAULT_WINDOW

    # -- errors

    def _translate(self, err: BaseException, key: str) -> Exception:
        """Every SDK/transport failure becomes a hermes_nb error (or a retryable one) here."""
        import openai

        if isinstance(err, (HermesError, RetryableError)):
            return err
        label = self.endpoint.label
        where = redact_url(self.endpoint.resolved_base_url() or "https://api.openai.com/v1")
        if isinstance(err, openai.APIStatusError):
            status = err.status_code
            detail = server_message(err, key)
            if status in (401, 403):
                hint = f"check {self.endpoint.key_env}" if self.endpoint.key_env else "this server needs a key: pass api_key_env"
                return AuthenticationError(f"{label} rejected the API key (HTTP {status}); {hint}.")
            if status == 400 and _NO_TOOLS.search(detail):
                return ToolsRefusedError(f"{label} said: {detail}")
            if status == 404:
                return UnknownModelError(
                    f"{label} at {where} does not know the model {self.model!r} (HTTP 404: {detail})."
                )
            if status == 429:
                if error_field(err, "code") == "insufficient_quota":
                    return RateLimitError(f"{label}: {detail}")
                return RetryableError(
                    "rate limited (HTTP 429)",
                    RateLimitError,
                    f"{label} is still rate limiting requests: {detail}",
                    retry_after=parse_retry_after(err.response.headers),
                )
            if status >= 500 or status in (408, 409):
                return RetryableError(
                    f"server error (HTTP {status})",
                    ProviderUnavailableError,
                    f"{label} keeps failing with HTTP {status}: {detail}",
                    retry_after=parse_retry_after(err.response.headers),
                )
            return ProviderError(f"{label} refused the request (HTTP {status}): {detail}")
        if isinstance(err, openai.APITimeoutError) or "Timeout" in type(err).__name__:
            return ProviderUnavailableError(
                f"{label} at {where} sent nothing for {self.read_timeout:g} s; the request was "
                "stopped. For a slow server, raise %config AgentMagics.request_timeout."
            )
        if isinstance(err, openai.APIConnectionError) or is_transport_error(err):
            reason, what = connection_failure(err)
            hint = " (is the server running?)" if self.endpoint.free and what != "dropped the connection" else ""
            return RetryableError(
                reason, ProviderUnavailableError, f"{label} at {public_url(where)} {what}{hint}"
            )
        if isinstance(err, (StreamErrorEvent, openai.APIError)):  # an error event mid-stream
            return RetryableError(
                "an error in the stream",
                ProviderUnavailableError,
                f"{label} keeps failing mid-reply: {scrub(str(err), key)}",
            )
        if isinstance(err, ValueError):  # a chunk that is not JSON or fails validation
            return RetryableError(
                "a malformed reply",
                ProviderUnavailableError,
                f"{label} keeps sending malformed replies: {scrub(str(err), key)}",
            )
        return ProviderError(f"{label} request failed: {type(err).__name__}: {scrub(str(err), key)}")


def _response_class(http: Any) -> type:
    """The ``Response`` class of the HTTP library under the SDK (``httpx`` or ``httpx2``):
    asked for as ``cast_to``, the SDK hands back the raw streaming response."""
    root = type(http).__mro__[1].__module__.partition(".")[0]
    return sys.modules[root].Response  # type: ignore[no-any-return]


def _collect(pending: list[PendingCall], by_index: dict[int, PendingCall], deltas: list[Any]) -> None:
    """Add tool-call deltas to their calls, by index (a new id at a used index is a new call)."""
    for tc in deltas:
        index = tc.get("index", -1)
        call_id = tc.get("id")
        slot = by_index.get(index)
        if slot is None or (call_id and slot.call_id and call_id != slot.call_id):
            slot = PendingCall()
            pending.append(slot)
            by_index[index] = slot
        if call_id:
            slot.call_id = call_id
        function = tc.get("function")
        if function:
            if function.get("name") and not slot.name:
                slot.name = function["name"]
            if function.get("arguments"):
                slot.parts.append(function["arguments"])


def _error_text(error: Any) -> str:
    if isinstance(error, dict):
        return str(error.get("message") or error)
    return str(error)


def server_window(base_url: str, model: str, key: str | None = None, *, http: Any = None) -> int | None:
    """The context window an OpenAI-compatible server states for ``model``, if any.

    ``GET {base_url}/models`` (vLLM, OpenRouter, LM Studio), and llama.cpp server's
    ``/props`` (the context it runs with, which may be less than the model's).
    Any failure means "not stated": the caller falls back to the table. ``http``: an
    HTTP client to ask through (a provider's pool: building a new client's TLS
    context costs tens of milliseconds); by default a client of its own.
    """
    headers = _auth(key)
    base = base_url.rstrip("/")
    try:
        if http is not None:
            return _ask_window(http, base, model, headers)
        import openai  # its HTTP client (httpx or httpx2, whichever the SDK ships with)

        with openai.DefaultHttpxClient(timeout=LISTING_TIMEOUT) as client:
            return _ask_window(client, base, model, headers)
    except Exception as exc:  # a server without these routes, or not answering
        log.debug("could not ask %s for the context window: %s", redact_url(base), exc)
        return None


def _auth(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}


def _ask_window(client: Any, base: str, model: str, headers: dict[str, str]) -> int | None:
    listing = client.get(f"{base}/models", headers=headers, timeout=LISTING_TIMEOUT)
    found = window_from_listing(listing.json(), model) if listing.is_success else None
    if found is None or _looks_like_llama_cpp(listing):
        root = base[: -len("/v1")] if base.endswith("/v1") else base
        props = client.get(f"{root}/props", headers=headers, timeout=LISTING_TIMEOUT)
        running = window_from_props(props.json()) if props.is_success else None
        found = min(filter(None, (found, running)), default=None)
    return found


def _looks_like_llama_cpp(response: Any) -> bool:
    try:
        data = response.json().get("data") or []
        return any(isinstance(e, dict) and isinstance(e.get("meta"), dict) for e in data)
    except Exception:
        return False
