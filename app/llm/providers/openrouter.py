"""OpenRouter (Gemini and others behind one key) through ``llama-index-llms-openrouter``.

LlamaIndex's OpenRouter LLM runs the ``openai`` SDK underneath, so its failures are classified
by the same translation as OpenAI's; its own retries are off (the router decides).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from typing import Any

import openai
from llama_index.core.base.llms.types import ChatMessage, MessageRole

from app.core import errors
from app.llm.base import Delta, GenerationParams, Message, ProviderConfig, Usage
from app.llm.providers.openai_compat import translate

_ROLES = {"system": MessageRole.SYSTEM, "user": MessageRole.USER, "assistant": MessageRole.ASSISTANT}


class OpenRouterProvider:
    def __init__(
        self, name: str, model: str, api_key: str, config: ProviderConfig, *, base_url: str | None = None
    ) -> None:
        from llama_index.llms.openrouter import OpenRouter

        self.name = name
        self.model = model
        self.config = config
        api_base = base_url or "https://openrouter.ai/api/v1"
        # our own client, so that aclose() can close its connections
        self._client = openai.AsyncOpenAI(api_key=api_key, base_url=api_base, max_retries=0, timeout=config.timeout)
        self.llm = OpenRouter(
            model=model,
            api_key=api_key,
            api_base=api_base,
            max_retries=0,
            timeout=config.timeout,
            context_window=config.context_window,
            is_chat_model=True,
            async_openai_client=self._client,
        )

    async def aclose(self) -> None:
        await self._client.close()

    async def stream(self, messages: Sequence[Message], params: GenerationParams) -> AsyncGenerator[Delta, None]:
        chat = [ChatMessage(role=_ROLES.get(m.role, MessageRole.USER), content=m.content) for m in messages]
        finished = False
        try:
            extra = {"stop": list(params.stop[:4])} if params.stop else {}
            responses = await self.llm.astream_chat(
                chat, temperature=params.temperature, max_tokens=params.max_tokens, **extra
            )
            async for response in responses:
                finish, usage = _finish_and_usage(response.raw)
                if finish == "content_filter":
                    raise errors.ContentFiltered("the provider's content filter stopped the answer", provider=self.name)
                finished = finished or finish is not None
                if response.delta or finish or usage:
                    yield Delta(text=response.delta or "", usage=usage, finish_reason=finish)
        except Exception as exc:
            raise translate(exc, self.name, openai) from exc
        if not finished:
            raise errors.ProviderServerError("the reply ended before the answer was finished", provider=self.name)


def _finish_and_usage(raw: Any) -> tuple[str | None, Usage | None]:
    choices = getattr(raw, "choices", None) or []
    finish = choices[0].finish_reason if choices else None
    reported = getattr(raw, "usage", None)
    usage = Usage(reported.prompt_tokens or 0, reported.completion_tokens or 0) if reported else None
    return finish, usage
