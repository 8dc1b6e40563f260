"""The chain built from settings: order, keys, overrides, Redis cooldowns, metrics; real SDKs on fake servers."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from redis.asyncio import Redis

from app.core.errors import ConfigError
from app.llm.base import GenerationParams, Message
from app.llm.cooldown import RedisCooldowns
from app.llm.factory import build_router
from app.llm.metrics import LLMMetrics
from app.settings import Settings
from tests.helpers.fake_server import ChatScript, FakeServer, Fault, gemini_chat_server, openai_chat_server

MESSAGES = [Message("user", "Which page?")]


async def test_chain_from_settings_with_fallback_metrics_and_shared_cooldowns(redis_url: str) -> None:
    with FakeServer() as gemini, FakeServer() as groq:
        gemini_chat_server(gemini)
        openai_chat_server(groq, path=r"/openai/v1/chat/completions", x_groq=True).append(
            ChatScript(text="groq answers")
        )
        gemini.fail(Fault(status=503, body={"error": {"code": 503, "status": "UNAVAILABLE", "message": "busy"}}))
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            google_api_key="AIzaTEST",
            gemini_base_url=gemini.url,
            groq_api_key="gsk_test",
            groq_base_url=groq.url,
            llm_retries=0,
            llm_overrides={"groq": {"timeout": 5, "cooldown": 10}},
        )
        registry = CollectorRegistry()
        redis = Redis.from_url(redis_url)
        router = build_router(settings, redis, on_call=LLMMetrics(registry))
        try:
            assert [p.name for p in router.providers] == ["gemini", "groq", "local"]
            assert router.disabled == {"openrouter": "OPENROUTER_API_KEY", "openai": "OPENAI_API_KEY"}
            assert router.providers[1].config.cooldown == 10
            assert router.providers[2].config.timeout >= 120, "the local model gets time to load"
            assert isinstance(router.cooldowns, RedisCooldowns)
            answer = await router.complete(MESSAGES, GenerationParams(max_tokens=16))
            assert (answer.provider, answer.text) == ("groq", "groq answers")
            assert await redis.exists("pagewise:cooldown:gemini"), "the cooldown is shared through Redis"
            text = generate_latest(registry).decode()
            assert (
                'llm_calls_total{model="gemini-2.0-flash",outcome="provider_server_error",provider="gemini"} 1.0'
                in text
            )
            assert 'llm_calls_total{model="llama-3.1-8b-instant",outcome="ok",provider="groq"} 1.0' in text
            assert 'llm_tokens_total{kind="completion",model="llama-3.1-8b-instant",provider="groq"}' in text
        finally:
            await router.aclose()
            await redis.aclose()


def test_no_keys_means_only_the_local_model_and_bad_overrides_are_refused() -> None:
    router = build_router(Settings(_env_file=None))  # type: ignore[call-arg]
    assert [p.name for p in router.providers] == ["local"]
    assert router.providers[0].model == "SmolLM2-135M-Instruct.Q4_1"
    with pytest.raises(ConfigError, match="LLM_OVERRIDES"):
        build_router(Settings(_env_file=None, llm_overrides={"local": {"temprature": 1}}))  # type: ignore[call-arg]
