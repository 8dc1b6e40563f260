"""Gemini directly through ``google-genai`` (the successor of the end-of-life google-generativeai).

The SDK's own retries are off (one attempt): retrying is the router's decision. Errors are
classified by HTTP status, Google's structured ``RetryInfo`` and the candidates' finish reasons.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncGenerator, Sequence
from typing import Any

import httpx

from app.core import errors
from app.llm.base import Delta, GenerationParams, Message, ProviderConfig, Usage

BLOCKED_REASONS = {"SAFETY", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "RECITATION", "IMAGE_SAFETY"}
_SECONDS = re.compile(r"^(\d+(?:\.\d+)?)s$")


def _retry_delay(exc: Any) -> float | None:
    details = (getattr(exc, "details", None) or {}).get("error", {}).get("details", [])
    for detail in details if isinstance(details, list) else []:
        if isinstance(detail, dict) and detail.get("@type", "").endswith("google.rpc.RetryInfo"):
            match = _SECONDS.match(str(detail.get("retryDelay", "")))
            if match:
                return float(match.group(1))
    response = getattr(exc, "response", None)
    header = getattr(response, "headers", {}).get("retry-after") if response is not None else None
    try:
        return float(header) if header is not None else None
    except ValueError:
        return None


def translate(exc: Exception, provider: str) -> errors.ProviderError:
    from google.genai import errors as genai_errors

    message = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, errors.ProviderError):
        return exc
    if isinstance(exc, httpx.TimeoutException):
        return errors.ProviderTimeout(message, provider=provider)
    if isinstance(exc, httpx.TransportError):
        return errors.ProviderConnectionError(message, provider=provider)
    if isinstance(exc, genai_errors.ClientError):
        if exc.code == 429:
            return errors.ProviderRateLimited(message, provider=provider, retry_after=_retry_delay(exc))
        if exc.code in (401, 403, 404):
            return errors.ProviderAuthError(message, provider=provider)
        return errors.ProviderBadRequest(message, provider=provider)
    return errors.ProviderServerError(message, provider=provider)  # ServerError, malformed JSON, the rest


class GeminiProvider:
    def __init__(
        self, name: str, model: str, api_key: str, config: ProviderConfig, *, base_url: str | None = None
    ) -> None:
        from google import genai
        from google.genai import types

        self.name = name
        self.model = model
        self.config = config
        self._http = httpx.AsyncClient(timeout=config.timeout)
        options = types.HttpOptions(
            base_url=base_url,
            timeout=int(config.timeout * 1000),
            retry_options=types.HttpRetryOptions(attempts=1),
            httpx_async_client=self._http,
        )
        self._client = genai.Client(api_key=api_key, http_options=options)

    async def aclose(self) -> None:
        self._client.close()
        await self._http.aclose()

    async def stream(self, messages: Sequence[Message], params: GenerationParams) -> AsyncGenerator[Delta, None]:
        from google.genai import types

        system = "\n\n".join(m.content for m in messages if m.role == "system") or None
        contents = [
            types.Content(role="model" if m.role == "assistant" else "user", parts=[types.Part(text=m.content)])
            for m in messages
            if m.role != "system"
        ]
        config = types.GenerateContentConfig(
            system_instruction=system,
            temperature=params.temperature,
            max_output_tokens=params.max_tokens,
            stop_sequences=list(params.stop) or None,
        )
        finished = False
        try:
            response = await self._client.aio.models.generate_content_stream(
                model=self.model, contents=contents, config=config
            )
            async for chunk in response:
                delta = self._delta(chunk)
                finished = finished or delta.finish_reason is not None
                if delta.text or delta.usage or delta.finish_reason:
                    yield delta
        except (json.JSONDecodeError, ValueError) as exc:
            raise errors.ProviderServerError(f"malformed reply: {exc}", provider=self.name) from exc
        except Exception as exc:
            raise translate(exc, self.name) from exc
        if not finished:
            raise errors.ProviderServerError("the reply ended before the answer was finished", provider=self.name)

    def _delta(self, chunk: Any) -> Delta:
        feedback = getattr(chunk, "prompt_feedback", None)
        if feedback is not None and getattr(feedback, "block_reason", None):
            raise errors.ContentFiltered(f"prompt blocked: {feedback.block_reason}", provider=self.name)
        text, finish = "", None
        if chunk.candidates:
            candidate = chunk.candidates[0]
            reason = getattr(candidate.finish_reason, "value", candidate.finish_reason)
            if reason in BLOCKED_REASONS:
                raise errors.ContentFiltered(f"answer blocked: {reason}", provider=self.name)
            if candidate.content and candidate.content.parts:
                text = "".join(part.text or "" for part in candidate.content.parts)
            finish = "stop" if reason == "STOP" else ("length" if reason == "MAX_TOKENS" else reason)
        usage = None
        meta = getattr(chunk, "usage_metadata", None)
        if meta is not None and finish is not None:
            usage = Usage(meta.prompt_token_count or 0, meta.candidates_token_count or 0)
        return Delta(text=text, usage=usage, finish_reason=finish)
