"""OpenAI and Groq adapters: the real SDKs against a fake OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator

import groq
import openai
import pytest

from app.core import errors
from app.llm.base import Delta, GenerationParams, Message, ProviderConfig
from app.llm.cooldown import MemoryCooldowns
from app.llm.providers.openai_compat import OpenAICompatibleProvider
from app.llm.router import Router, Started
from tests.helpers.fake_provider import drain
from tests.helpers.fake_server import ChatScript, FakeServer, Fault, openai_chat_server

OPEN: list[OpenAICompatibleProvider] = []


@pytest.fixture(autouse=True)
async def _close_clients() -> AsyncIterator[None]:
    yield
    while OPEN:
        await OPEN.pop().aclose()


MESSAGES = [Message("system", "Answer from the passages."), Message("user", "Where is the answer?")]
PARAMS = GenerationParams(temperature=0.0, max_tokens=64)


def openai_provider(server: FakeServer, timeout: float = 2.0) -> OpenAICompatibleProvider:
    client = openai.AsyncOpenAI(
        api_key="sk-test-key-123456", base_url=server.url + "/v1", max_retries=0, timeout=timeout
    )
    OPEN.append(
        OpenAICompatibleProvider("openai", "gpt-4o-mini", client, openai, ProviderConfig(timeout=timeout, retries=0))
    )
    return OPEN[-1]


def groq_provider(server: FakeServer) -> OpenAICompatibleProvider:
    client = groq.AsyncGroq(api_key="gsk_test_key_123456", base_url=server.url, max_retries=0, timeout=2.0)
    OPEN.append(
        OpenAICompatibleProvider(
            "groq", "llama-3.1-8b-instant", client, groq, ProviderConfig(timeout=2.0, retries=0), include_usage=False
        )
    )
    return OPEN[-1]


async def collect(provider: OpenAICompatibleProvider) -> list[Delta]:
    return [d async for d in provider.stream(MESSAGES, PARAMS)]


async def test_openai_streams_text_and_usage_over_sse() -> None:
    with FakeServer() as server:
        openai_chat_server(server).append(ChatScript(text="It is on page 3."))
        deltas = await collect(openai_provider(server))
        assert "".join(d.text for d in deltas) == "It is on page 3."
        assert deltas[-1].usage is not None
        assert deltas[-1].usage.completion_tokens == 5
        body = server.requests[0].body
        assert body["stream"] is True
        assert body["model"] == "gpt-4o-mini"
        assert body["messages"][0] == {"role": "system", "content": "Answer from the passages."}
        assert server.requests[0].headers["authorization"] == "Bearer sk-test-key-123456"


async def test_groq_sdk_speaks_the_same_protocol() -> None:
    with FakeServer() as server:
        openai_chat_server(server, path=r"/openai/v1/chat/completions", x_groq=True).append(
            ChatScript(text="Groq says hi")
        )
        deltas = await collect(groq_provider(server))
        assert "".join(d.text for d in deltas) == "Groq says hi"
        assert deltas[-1].usage is not None, "usage from x_groq on the last chunk"
        assert deltas[-1].usage.completion_tokens == 3
        assert server.requests[0].headers["authorization"] == "Bearer gsk_test_key_123456"


@pytest.mark.parametrize(
    ("fault", "expected", "code"),
    [
        (
            Fault(status=429, headers={"retry-after": "7"}, body={"error": {"message": "slow", "type": "rate_limit"}}),
            errors.ProviderRateLimited,
            "provider_rate_limited",
        ),
        (Fault(status=500), errors.ProviderServerError, "provider_server_error"),
        (
            Fault(status=503, body={"error": {"message": "overloaded"}}),
            errors.ProviderServerError,
            "provider_server_error",
        ),
        (
            Fault(status=401, body={"error": {"message": "bad key", "type": "invalid_request_error"}}),
            errors.ProviderAuthError,
            "provider_auth_error",
        ),
        (
            Fault(status=400, body={"error": {"message": "too long", "code": "context_length_exceeded"}}),
            errors.ContextTooLong,
            "context_too_long",
        ),
        (
            Fault(status=400, body={"error": {"message": "flagged", "code": "content_filter"}}),
            errors.ContentFiltered,
            "content_filtered",
        ),
        (
            Fault(status=400, body={"error": {"message": "temperature must be <= 2"}}),
            errors.ProviderBadRequest,
            "provider_bad_request",
        ),
        (Fault(drop=True), errors.ProviderConnectionError, "provider_connection_error"),
        (
            Fault(status=200, body=b"{not json", headers={"content-type": "application/json"}),
            errors.ProviderServerError,
            "provider_server_error",
        ),
    ],
)
async def test_failures_are_classified_at_the_boundary(
    fault: Fault, expected: type[errors.ProviderError], code: str
) -> None:
    with FakeServer() as server:
        openai_chat_server(server)
        server.fail(fault)
        with pytest.raises(expected) as info:
            await collect(openai_provider(server))
        assert info.value.code == code
        assert info.value.provider == "openai"
        if isinstance(info.value, errors.ProviderRateLimited):
            assert info.value.retry_after == 7.0


async def test_mid_stream_drop_and_malformed_chunk_raise_after_the_first_tokens() -> None:
    with FakeServer() as server:
        scripts = openai_chat_server(server)
        scripts.append(ChatScript(text="one two three four", drop_after_words=2))
        scripts.append(ChatScript(text="one two three four", malformed_after_words=2))
        for _ in range(2):
            seen: list[Delta] = []
            with pytest.raises(errors.ProviderError):
                await drain(openai_provider(server).stream(MESSAGES, PARAMS), seen)
            assert [d.text for d in seen[:2]] == ["one", " two"]


async def test_router_falls_back_from_openai_to_groq_and_never_mixes_streams() -> None:
    with FakeServer() as openai_server, FakeServer() as groq_server:
        openai_scripts = openai_chat_server(openai_server)
        openai_chat_server(groq_server, path=r"/openai/v1/chat/completions", x_groq=True).append(
            ChatScript(text="from groq")
        )
        openai_server.fail(Fault(status=500))
        router = Router([openai_provider(openai_server), groq_provider(groq_server)], MemoryCooldowns())
        answer = await router.complete(MESSAGES, PARAMS)
        assert (answer.provider, answer.text) == ("groq", "from groq")

        openai_scripts.append(ChatScript(text="partial answer that breaks", drop_after_words=2))
        pinned = Router([openai_provider(openai_server), groq_provider(groq_server)], MemoryCooldowns())
        events: list[object] = []
        with pytest.raises(errors.StreamInterrupted):
            await drain(pinned.stream(MESSAGES, PARAMS), events)
        assert events[0] == Started("openai", "gpt-4o-mini")
        assert len(groq_server.requests) == 1, "groq was not asked to continue openai's answer"


async def test_latency_beyond_the_timeout_falls_back() -> None:
    with FakeServer() as slow, FakeServer() as fast:
        openai_chat_server(slow).append(ChatScript(text="too late"))
        slow.latency = 1.0
        openai_chat_server(fast, path=r"/openai/v1/chat/completions", x_groq=True).append(ChatScript(text="in time"))
        router = Router([openai_provider(slow, timeout=0.3), groq_provider(fast)], MemoryCooldowns())
        assert (await router.complete(MESSAGES, PARAMS)).text == "in time"
