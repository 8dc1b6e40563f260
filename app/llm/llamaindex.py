"""The router as a LlamaIndex ``LLM``: chat, complete, their streaming and async forms.

Every response's ``raw`` says which provider and model answered, with token usage. The async
methods are the real ones; the sync ones run them on a private event loop (not from inside a
running loop: use the async methods there).
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import AsyncGenerator, Generator, Sequence
from typing import Any

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseAsyncGen,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseAsyncGen,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
)
from llama_index.core.llms.llm import LLM
from pydantic import PrivateAttr

from app.llm.base import Delta, GenerationParams, Message
from app.llm.router import Router, Started

_END = object()


class RouterLLM(LLM):
    """``RouterLLM(router, model=None)``; ``model`` pins a provider or model id, like ``?model=``."""

    model: str | None = None
    temperature: float = 0.1
    max_tokens: int = 512
    _router: Router = PrivateAttr()

    def __init__(self, router: Router, **data: Any) -> None:
        super().__init__(**data)
        self._router = router

    @property
    def metadata(self) -> LLMMetadata:
        chain = self._router.chain(self.model)
        return LLMMetadata(
            context_window=min((p.config.context_window for p in chain), default=4096),
            num_output=self.max_tokens,
            is_chat_model=True,
            model_name="router:" + ",".join(p.name for p in chain),
        )

    def _params(self, kwargs: dict[str, Any]) -> GenerationParams:
        return GenerationParams(
            temperature=float(kwargs.get("temperature", self.temperature)),
            max_tokens=int(kwargs.get("max_tokens", self.max_tokens)),
        )

    async def _events(
        self, messages: Sequence[Message], **kwargs: Any
    ) -> AsyncGenerator[tuple[dict[str, Any], Delta], None]:
        raw: dict[str, Any] = {}
        async for event in self._router.stream(messages, self._params(kwargs), kwargs.get("model", self.model)):
            if isinstance(event, Started):
                raw = {"provider": event.provider, "model": event.model}
                continue
            if event.usage is not None:
                raw = {
                    **raw,
                    "usage": {
                        "prompt_tokens": event.usage.prompt_tokens,
                        "completion_tokens": event.usage.completion_tokens,
                    },
                }
            yield raw, event

    # async: the real implementations
    async def astream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseAsyncGen:
        async def gen() -> ChatResponseAsyncGen:
            text = ""
            async for raw, delta in self._events(_messages(messages), **kwargs):
                text += delta.text
                yield ChatResponse(
                    message=ChatMessage(role=MessageRole.ASSISTANT, content=text), delta=delta.text, raw=raw
                )

        return gen()

    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        last: ChatResponse | None = None
        async for response in await self.astream_chat(messages, **kwargs):
            last = response
        assert last is not None
        return ChatResponse(message=last.message, raw=last.raw)

    async def astream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseAsyncGen:
        async def gen() -> CompletionResponseAsyncGen:
            text = ""
            async for raw, delta in self._events([Message("user", prompt)], **kwargs):
                text += delta.text
                yield CompletionResponse(text=text, delta=delta.text, raw=raw)

        return gen()

    async def acomplete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        last: CompletionResponse | None = None
        async for response in await self.astream_complete(prompt, formatted, **kwargs):
            last = response
        assert last is not None
        return CompletionResponse(text=last.text, raw=last.raw)

    # sync: the async ones on a private loop
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return asyncio.run(self.achat(messages, **kwargs))

    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return asyncio.run(self.acomplete(prompt, formatted, **kwargs))

    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        return _in_thread(lambda: self.astream_chat(messages, **kwargs))

    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        return _in_thread(lambda: self.astream_complete(prompt, formatted, **kwargs))


def _messages(messages: Sequence[ChatMessage]) -> list[Message]:
    return [Message(str(m.role.value), m.content or "") for m in messages]


def _in_thread(make: Any) -> Generator[Any, None, None]:
    """Drive an async generator on its own loop in a thread, handing items over a queue."""
    items: queue.Queue[Any] = queue.Queue(maxsize=64)
    stop = threading.Event()

    async def pump() -> None:
        try:
            async for item in await make():
                if stop.is_set():
                    break
                items.put(item)
        except BaseException as exc:  # re-raised in the consumer
            items.put(exc)
        finally:
            items.put(_END)

    thread = threading.Thread(target=lambda: asyncio.run(pump()), daemon=True)
    thread.start()
    try:
        while (item := items.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)
