"""Gemini adapter: google-genai against a fake Gemini REST server (SSE) on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from app.core import errors
from app.llm.base import Delta, GenerationParams, Message, ProviderConfig
from app.llm.providers.gemini import GeminiProvider
from tests.helpers.fake_provider import drain
from tests.helpers.fake_server import ChatScript, FakeServer, Fault, gemini_chat_server

MESSAGES = [Message("system", "Answer from the passages only."), Message("user", "What grew?")]
PARAMS = GenerationParams(temperature=0.0, max_tokens=64, stop=("\nQuestion:",))
OPEN: list[GeminiProvider] = []


@pytest.fixture(autouse=True)
async def _close() -> AsyncIterator[None]:
    yield
    while OPEN:
        await OPEN.pop().aclose()


def provider(server: FakeServer, timeout: float = 2.0) -> GeminiProvider:
    OPEN.append(
        GeminiProvider("gemini", "gemini-2.0-flash", "AIzaTEST", ProviderConfig(timeout=timeout), base_url=server.url)
    )
    return OPEN[-1]


async def test_streams_text_usage_and_sends_the_system_instruction() -> None:
    with FakeServer() as server:
        gemini_chat_server(server).append(ChatScript(text="Revenue grew 12%."))
        deltas = [d async for d in provider(server).stream(MESSAGES, PARAMS)]
        assert "".join(d.text for d in deltas) == "Revenue grew 12%."
        assert deltas[-1].finish_reason == "stop"
        assert deltas[-1].usage is not None
        assert deltas[-1].usage.completion_tokens == 3
        request = server.requests[0]
        assert "alt=sse" in request.path
        assert request.headers["x-goog-api-key"] == "AIzaTEST"
        assert request.body["systemInstruction"]["parts"][0]["text"] == "Answer from the passages only."
        assert request.body["contents"] == [{"role": "user", "parts": [{"text": "What grew?"}]}]
        assert request.body["generationConfig"]["maxOutputTokens"] == 64
        assert request.body["generationConfig"]["stopSequences"] == ["\nQuestion:"]


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (
            Fault(
                status=429,
                body={
                    "error": {
                        "code": 429,
                        "status": "RESOURCE_EXHAUSTED",
                        "message": "quota",
                        "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "9s"}],
                    }
                },
            ),
            errors.ProviderRateLimited,
        ),
        (
            Fault(status=500, body={"error": {"code": 500, "status": "INTERNAL", "message": "boom"}}),
            errors.ProviderServerError,
        ),
        (
            Fault(status=403, body={"error": {"code": 403, "status": "PERMISSION_DENIED", "message": "bad key"}}),
            errors.ProviderAuthError,
        ),
        (
            Fault(status=400, body={"error": {"code": 400, "status": "INVALID_ARGUMENT", "message": "bad"}}),
            errors.ProviderBadRequest,
        ),
        (Fault(drop=True), errors.ProviderConnectionError),
    ],
)
async def test_failures_are_classified(fault: Fault, expected: type[errors.ProviderError]) -> None:
    with FakeServer() as server:
        gemini_chat_server(server)
        server.fail(fault)
        with pytest.raises(expected) as info:
            await drain(provider(server).stream(MESSAGES, PARAMS), [])
        if isinstance(info.value, errors.ProviderRateLimited):
            assert info.value.retry_after == 9.0


async def test_safety_block_mid_stream_drop_and_malformed_chunk() -> None:
    with FakeServer() as server:
        scripts = gemini_chat_server(server)
        scripts.append(ChatScript(text="unsafe words", finish_reason="SAFETY"))
        with pytest.raises(errors.ContentFiltered):
            await drain(provider(server).stream(MESSAGES, PARAMS), [])
        # a cut chunked stream is a broken connection; a chunk that is not JSON, a bad server reply
        for script, expected in (
            (ChatScript(text="a b c d", drop_after_words=2), errors.ProviderConnectionError),
            (ChatScript(text="a b c d", malformed_after_words=2), errors.ProviderServerError),
        ):
            scripts.append(script)
            seen: list[Delta] = []
            with pytest.raises(expected):
                await drain(provider(server).stream(MESSAGES, PARAMS), seen)
            assert [d.text for d in seen[:2]] == ["a", " b"]


async def test_slow_reply_times_out() -> None:
    with FakeServer() as server:
        gemini_chat_server(server)
        server.latency = 1.0
        with pytest.raises(errors.ProviderTimeout):
            await drain(provider(server, timeout=0.2).stream(MESSAGES, PARAMS), [])
