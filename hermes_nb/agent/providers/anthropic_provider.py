"""Anthropic's Messages API through the official ``anthropic`` SDK (an optional extra).

Same contract as the OpenAI provider: key from the environment per request
(ANTHROPIC_API_KEY unless told otherwise), SDK retries off and ours visible, one
translation function for errors, and the same cancel guard for stalled streams.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

from hermes_nb.agent.providers.anthropic_messages import (
    cache_breakpoints,
    to_anthropic,
    to_anthropic_tools,
)
from hermes_nb.agent.providers.base import (
    Chunk,
    Provider,
    ReasoningDelta,
    StreamNotice,
    TextDelta,
    UsageChunk,
)
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
from hermes_nb.agent.providers.install_hint import extra_install_command
from hermes_nb.agent.providers.limits import length_notice, limit_for
from hermes_nb.agent.providers.pricing import estimate_cost
from hermes_nb.agent.providers.retry import (
    RetryableError,
    RetryPolicy,
    parse_retry_after,
    with_retries,
)
from hermes_nb.agent.providers.streamguard import guarded_stream
from hermes_nb.errors import (
    AuthenticationError,
    HermesError,
    ModelNotInstalledError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitError,
    UnknownModelError,
)
from hermes_nb.safety.redact import redact_url

__all__ = ["AnthropicProvider"]

READ_TIMEOUT = 120.0
IDLE_TIMEOUT = 120.0
CONNECT_TIMEOUT = 10.0
DEFAULT_URL = "https://api.anthropic.com"


class AnthropicProvider(Provider):
    """Streams Claude replies; text, tool calls and thinking arrive as chunks.

    With ``prompt_cache`` (``AgentMagics.prompt_cache``) each request marks where the
    API may cache its prefix (``cache_breakpoints``): a long session's history is then
    billed at a tenth of the input price from the second step on.
    """

    prompt_cache: bool = True

    def __init__(
        self,
        spec: str,
        model: str,
        *,
        base_url: str | None = None,
        key_env: str = "ANTHROPIC_API_KEY",
        retry: RetryPolicy | None = None,
        max_tokens: int | None = None,
        read_timeout: float = READ_TIMEOUT,
        idle_timeout: float = IDLE_TIMEOUT,
    ) -> None:
        if importlib.util.find_spec("anthropic") is None:
            raise ModelNotInstalledError(
                f"{spec} needs the anthropic SDK; install it with: {extra_install_command('anthropic')}"
                ", and restart the kernel"
            )
        self.spec = spec
        self.model = model
        self.base_url = base_url
        self.key_env = key_env
        self.retry = retry or RetryPolicy.from_env()
        self.max_output_tokens = max_tokens
        self.read_timeout = read_timeout
        self.idle_timeout = idle_timeout
        self.context_window = 200_000
        self._http: Any = None
        self._http_lock = threading.Lock()

    def stream(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        cancel: threading.Event,
    ) -> Iterator[Chunk]:
        key = self._api_key()
        system, converted = to_anthropic(messages, tool_blocks=bool(tools))
        definitions = to_anthropic_tools(tools) if tools else []
        marked: str | list[dict[str, Any]] = system
        if self.prompt_cache:
            marked, converted, definitions = cache_breakpoints(system, converted, definitions)
        params: dict[str, Any] = {
            "model": self.model,
            "messages": converted,
            "max_tokens": limit_for(self.model, self.max_output_tokens),
            "stream": True,
        }
        if system:
            params["system"] = marked
        if definitions:
            params["tools"] = definitions
        yield from with_retries(lambda: self._attempt(key, params, cancel), self.retry, cancel)

    def _attempt(self, key: str, params: dict[str, Any], cancel: threading.Event) -> Iterator[Chunk]:
        return guarded_stream(
            cancel,
            lambda touch: self._create(key, params, touch),
            lambda stream, touch: self._read(stream, cancel, touch),
            lambda err: self._translate(err, key),
            idle_timeout=self.idle_timeout,
            label="Anthropic",
        )

    def _create(self, key: str, params: dict[str, Any], touch: Callable[[], None]) -> Any:
        client = self._client(key)
        touch()  # the idle clock starts when the request leaves
        return client.messages.create(**params)

    def _read(
        self, stream: Any, cancel: threading.Event, touch: Callable[[], None] = lambda: None
    ) -> Iterator[Chunk]:
        calls: dict[int, PendingCall] = {}
        tokens_in = tokens_out = read = written = 0
        finished = False
        stop_reason = None
        is_set = cancel.is_set
        for event in stream:
            if is_set():
                return
            kind = event.type
            if kind == "content_block_delta":
                touch()
                delta = event.delta
                if delta.type == "text_delta":
                    yield TextDelta(delta.text)
                elif delta.type == "input_json_delta":
                    call = calls.get(event.index)
                    if call is not None:
                        call.parts.append(delta.partial_json)
                elif delta.type == "thinking_delta":
                    yield ReasoningDelta(delta.thinking)
            elif kind == "content_block_start":
                block = event.content_block
                touch()
                if block.type == "tool_use":
                    calls[event.index] = PendingCall(call_id=block.id, name=block.name)
            elif kind == "message_start":
                usage = event.message.usage
                read = getattr(usage, "cache_read_input_tokens", 0) or 0
                written = getattr(usage, "cache_creation_input_tokens", 0) or 0
                tokens_in = (usage.input_tokens or 0) + read + written
            elif kind == "message_delta":
                tokens_out = event.usage.output_tokens or tokens_out
                stop_reason = getattr(event.delta, "stop_reason", None) or stop_reason
            elif kind == "message_stop":
                finished = True
        if is_set():
            return
        if not finished:
            raise RetryableError(
                "the reply stopped early", ProviderUnavailableError, "Anthropic keeps cutting its replies short"
            )
        if stop_reason == "max_tokens":
            yield StreamNotice(length_notice(limit_for(self.model, self.max_output_tokens)))
        for index in sorted(calls):
            yield calls[index].request()
        cost = estimate_cost(self.model, tokens_in, tokens_out, cache_read=read, cache_write=written)
        yield UsageChunk(tokens_in, tokens_out, cost, cache_read_tokens=read, cache_write_tokens=written)

    def _api_key(self) -> str:
        key = os.environ.get(self.key_env, "").strip()
        if not key:
            raise AuthenticationError(
                f"No API key for Anthropic: {KEY_HINT.format(env=self.key_env)}"
            )
        return key

    def _client(self, key: str) -> Any:
        """A light SDK client per request over one shared connection pool (see openai_compat)."""
        import anthropic

        return anthropic.Anthropic(
            api_key=key,
            base_url=self.base_url,
            http_client=self._pool(),
            max_retries=0,
            timeout=anthropic.Timeout(self.read_timeout, connect=CONNECT_TIMEOUT),
        )

    def _pool(self) -> Any:
        """The provider's connection pool (its TLS context takes a while to build)."""
        with self._http_lock:
            if self._http is None:
                import anthropic

                timeout = anthropic.Timeout(self.read_timeout, connect=CONNECT_TIMEOUT)
                self._http = anthropic.DefaultHttpxClient(timeout=timeout)
            return self._http

    def prepare(self) -> None:
        self._pool()

    def _translate(self, err: BaseException, key: str) -> Exception:
        """Every SDK/transport failure becomes a hermes_nb error (or a retryable one) here."""
        import anthropic

        if isinstance(err, (HermesError, RetryableError)):
            return err
        where = redact_url(self.base_url or os.environ.get("ANTHROPIC_BASE_URL") or DEFAULT_URL)
        if isinstance(err, anthropic.APIStatusError):
            status = err.status_code
            kind = error_field(err, "type") or ""
            detail = server_message(err, key)
            if status in (401, 403) or kind in ("authentication_error", "permission_error"):
                return AuthenticationError(f"Anthropic rejected the API key (HTTP {status}); check {self.key_env}.")
            if status == 404 or kind == "not_found_error":
                return UnknownModelError(f"Anthropic does not know the model {self.model!r} (HTTP 404: {detail}).")
            if status == 429 or kind == "rate_limit_error":
                return RetryableError(
                    "rate limited (HTTP 429)",
                    RateLimitError,
                    f"Anthropic is still rate limiting requests: {detail}",
                    retry_after=parse_retry_after(err.response.headers),
                )
            if status >= 500 or status < 400 or status in (408, 409):
                # < 400: an ``error`` event inside a 200 stream (e.g. overloaded_error)
                label = f"HTTP {status}" if status >= 400 else kind or "error event"
                return RetryableError(
                    f"server error ({label})",
                    ProviderUnavailableError,
                    f"Anthropic keeps failing ({label}): {detail}",
                    retry_after=parse_retry_after(err.response.headers) if status >= 400 else None,
                )
            return ProviderError(f"Anthropic refused the request (HTTP {status}): {detail}")
        if isinstance(err, anthropic.APITimeoutError) or "Timeout" in type(err).__name__:
            return ProviderUnavailableError(
                f"Anthropic at {where} sent nothing for {self.read_timeout:g} s; the request was "
                "stopped. For a slow server, raise %config AgentMagics.request_timeout."
            )
        if isinstance(err, anthropic.APIConnectionError) or is_transport_error(err):
            reason, what = connection_failure(err)
            return RetryableError(reason, ProviderUnavailableError, f"Anthropic at {public_url(where)} {what}")
        if isinstance(err, (ValueError, anthropic.APIError)):
            return RetryableError(
                "a malformed reply",
                ProviderUnavailableError,
                f"Anthropic keeps sending malformed replies: {scrub(str(err), key)}",
            )
        return ProviderError(f"Anthropic request failed: {type(err).__name__}: {scrub(str(err), key)}")
