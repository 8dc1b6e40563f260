"""OpenRouter adapter: llama-index-llms-openrouter (openai SDK inside) against the fake OpenAI-compatible server."""

from __future__ import annotations

import pytest

from app.core import errors
from app.llm.base import Delta, GenerationParams, Message, ProviderConfig
from app.llm.providers.openrouter import OpenRouterProvider
from tests.helpers.fake_provider import drain
from tests.helpers.fake_server import ChatScript, FakeServer, Fault, openai_chat_server

MESSAGES = [Message("system", "Use the passages."), Message("user", "Which page?")]


def provider(server: FakeServer) -> OpenRouterProvider:
    return OpenRouterProvider(
        "openrouter",
        "google/gemini-2.0-flash-001",
        "sk-or-v1-test",
        ProviderConfig(timeout=2.0),
        base_url=server.url + "/api/v1",
    )


async def test_streams_through_llamaindex_and_classifies_failures() -> None:
    with FakeServer() as server:
        opened = [provider(server) for _ in range(3)]
        openai_chat_server(server, path=r"/api/v1/chat/completions").append(ChatScript(text="Page 7 has it."))
        deltas: list[Delta] = []
        await drain(opened[0].stream(MESSAGES, GenerationParams(max_tokens=32, stop=("\nQuestion:",))), deltas)
        assert "".join(d.text for d in deltas) == "Page 7 has it."
        assert deltas[-1].finish_reason == "stop"
        body = server.requests[0].body
        assert body["model"] == "google/gemini-2.0-flash-001"
        assert body["stop"] == ["\nQuestion:"]
        assert body["messages"][0] == {"role": "system", "content": "Use the passages."}
        assert server.requests[0].headers["authorization"] == "Bearer sk-or-v1-test"

        server.fail(Fault(status=429, headers={"retry-after": "3"}))
        with pytest.raises(errors.ProviderRateLimited) as info:
            await drain(opened[1].stream(MESSAGES, GenerationParams()), [])
        assert info.value.retry_after == 3.0
        server.fail(Fault(status=502))
        with pytest.raises(errors.ProviderServerError):
            await drain(opened[2].stream(MESSAGES, GenerationParams()), [])
        for p in opened:
            await p.aclose()
