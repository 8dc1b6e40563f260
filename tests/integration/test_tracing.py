"""Langfuse tracing: the real SDK exports OTLP to a recording server on 127.0.0.1; masking; Langfuse down."""

from __future__ import annotations

import base64
import uuid

from prometheus_client import CollectorRegistry

from app.core.errors import ProviderServerError
from app.core.tracing import Tracer
from app.llm.base import GenerationParams, Message
from app.llm.cooldown import MemoryCooldowns
from app.llm.metrics import LLMMetrics
from app.llm.router import Router
from tests.helpers.fake_provider import FakeProvider
from tests.helpers.fake_server import FakeServer
from tests.helpers.otlp import recording_langfuse, spans


async def test_each_llm_call_is_a_masked_generation_with_provider_model_outcome_and_tokens() -> None:
    with FakeServer() as server:
        recording_langfuse(server)
        public = f"pk-lf-{uuid.uuid4().hex[:8]}"
        tracer = Tracer(public, "sk-lf-secret-test", host=server.url, environment="test")
        assert tracer.enabled
        failing = FakeProvider("gemini", retries=0).then(ProviderServerError("down"))
        router = Router(
            [failing, FakeProvider("groq", default="two words")],
            MemoryCooldowns(),
            on_call=LLMMetrics(CollectorRegistry(), tracer),
        )
        await router.complete([Message("user", "Q?")], GenerationParams())
        tracer.generation(
            name="masking",
            model="m",
            provider="p",
            outcome="ok",
            seconds=0.1,
            input="mail jane@example.com, key sk-proj-abcdefghijklmnop1234",
        )
        tracer.flush()
        exported = spans(server.requests)
        by_name = {s["name"]: s for s in exported}
        assert {"llm:gemini", "llm:groq", "masking"} <= set(by_name)
        groq = by_name["llm:groq"]
        assert groq["langfuse.observation.type"] == "generation"
        assert groq["langfuse.observation.model.name"] == "fake-model"
        assert groq["langfuse.observation.metadata.provider"] == '"groq"'
        assert groq["langfuse.observation.metadata.outcome"] == '"ok"'
        assert '"input": 10' in groq["langfuse.observation.usage_details"]
        assert by_name["llm:gemini"]["langfuse.observation.level"] == "WARNING"
        masked = by_name["masking"]["langfuse.observation.input"]
        assert "jane@example.com" not in masked
        assert "abcdefghijklmnop1234" not in masked
        auth = next(r.headers["authorization"] for r in server.requests if "otel" in r.path)
        assert auth == "Basic " + base64.b64encode(f"{public}:sk-lf-secret-test".encode()).decode()
        tracer.shutdown()


async def test_langfuse_down_or_absent_never_fails_a_call() -> None:
    with FakeServer() as server:
        dead_url = server.url
    tracer = Tracer(f"pk-lf-{uuid.uuid4().hex[:8]}", "sk-lf-x", host=dead_url)
    router = Router(
        [FakeProvider("groq", default="still answers")],
        MemoryCooldowns(),
        on_call=LLMMetrics(CollectorRegistry(), tracer),
    )
    assert (await router.complete([Message("user", "Q?")], GenerationParams())).text == "still answers"
    tracer.flush()
    tracer.shutdown()
    absent = Tracer(None, None)
    assert not absent.enabled
    absent.generation(name="x", model="m", provider="p", outcome="ok", seconds=0.0)
    absent.flush()
