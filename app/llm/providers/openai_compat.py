"""OpenAI and Groq (whose SDK mirrors OpenAI's) over their official async SDKs, streaming.

The SDKs' own retries are off (``max_retries=0``): retrying is the router's decision.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from types import ModuleType
from typing import Any

import httpx

from app.core import errors
from app.llm.base import Delta, GenerationParams, Message, ProviderConfig, Usage


def retry_after_seconds(headers: httpx.Headers | None) -> float | None:
    """Retry-After (seconds or HTTP date ignored) or retry-after-ms, as sent with a 429."""
    if headers is None:
        return None
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is not None:
            try:
                return max(0.0, float(value) * scale)
            except ValueError:
                continue
    return None


def _error_code(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            return str(inner.get("code") or inner.get("type") or "")
    return ""


def translate(exc: Exception, provider: str, sdk: ModuleType) -> errors.ProviderError:
    """Map an openai-style SDK (or httpx) exception to our error type, by class and structured code."""
    message = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, errors.ProviderError):
        return exc
    if isinstance(exc, sdk.APITimeoutError | httpx.TimeoutException):
        return errors.ProviderTimeout(message, provider=provider)
    if isinstance(exc, sdk.APIConnectionError | httpx.TransportError):
        return errors.ProviderConnectionError(message, provider=provider)
    if isinstance(exc, sdk.RateLimitError):
        return errors.ProviderRateLimited(
            message, provider=provider, retry_after=retry_after_seconds(exc.response.headers)
        )
    if isinstance(exc, sdk.AuthenticationError | sdk.PermissionDeniedError | sdk.NotFoundError):
        return errors.ProviderAuthError(message, provider=provider)  # key or model misconfigured: fall back
    if isinstance(exc, sdk.BadRequestError | sdk.UnprocessableEntityError):
        code = _error_code(exc)
        if code == "context_length_exceeded":
            return errors.ContextTooLong(message, provider=provider)
        if code in ("content_filter", "content_policy_violation"):
            return errors.ContentFiltered(message, provider=provider)
        return errors.ProviderBadRequest(message, provider=provider)
    if isinstance(exc, sdk.APIStatusError):
        return errors.ProviderServerError(message, provider=provider)
    # malformed replies (APIResponseValidationError, JSON errors in a stream) and anything else
    return errors.ProviderServerError(message, provider=provider)


class OpenAICompatibleProvider:
    """Chat completions, streamed, through an ``AsyncOpenAI``-shaped client (openai or groq SDK)."""

    def __init__(
        self, name: str, model: str, client: Any, sdk: ModuleType, config: ProviderConfig, *, include_usage: bool = True
    ) -> None:
        self.name = name
        self.model = model
        self.client = client
        self.sdk = sdk
        self.config = config
        self.include_usage = include_usage

    async def aclose(self) -> None:
        await self.client.close()

    async def stream(self, messages: Sequence[Message], params: GenerationParams) -> AsyncGenerator[Delta, None]:
        request: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "temperature": params.temperature,
            "max_tokens": params.max_tokens,
            "stream": True,
        }
        if params.stop:
            request["stop"] = list(params.stop[:4])
        if self.include_usage:
            request["stream_options"] = {"include_usage": True}
        try:
            response = await self.client.chat.completions.create(**request)
            finished = False
            try:
                async for chunk in response:
                    delta = _delta(chunk)
                    if delta.finish_reason == "content_filter":
                        raise errors.ContentFiltered(
                            "the provider's content filter stopped the answer", provider=self.name
                        )
                    finished = finished or delta.finish_reason is not None
                    if delta.text or delta.usage or delta.finish_reason:
                        yield delta
            finally:
                await response.close()
            if not finished:  # a cut connection or a body that is no SSE ends the iteration silently
                raise errors.ProviderServerError("the reply ended before the answer was finished", provider=self.name)
        except Exception as exc:
            raise translate(exc, self.name, self.sdk) from exc


def _delta(chunk: Any) -> Delta:
    usage = None
    reported = getattr(chunk, "usage", None) or getattr(getattr(chunk, "x_groq", None), "usage", None)
    if reported:  # OpenAI: a last chunk with usage (stream_options); Groq: x_groq.usage on the last chunk
        usage = Usage(reported.prompt_tokens or 0, reported.completion_tokens or 0)
    text, finish = "", None
    if chunk.choices:
        choice = chunk.choices[0]
        text = getattr(choice.delta, "content", None) or ""
        finish = choice.finish_reason
    return Delta(text=text, usage=usage, finish_reason=finish)
