"""Router semantics: fallback, retries, cooldowns with a half-open probe, streaming rules, pinning."""

from __future__ import annotations

import asyncio

import pytest

from app.core.errors import (
    AllProvidersFailed,
    ContentFiltered,
    ContextTooLong,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderConnectionError,
    ProviderRateLimited,
    ProviderServerError,
    StreamInterrupted,
    UnknownModel,
)
from app.llm.base import Delta, GenerationParams, Message
from app.llm.cooldown import Admission, MemoryCooldowns
from app.llm.router import CallRecord, Router, Started
from tests.helpers.fake_provider import FakeClock, FakeProvider, Reply, drain

MESSAGES = [Message("user", "What is on page 3?")]
PARAMS = GenerationParams()


def make(
    *providers: FakeProvider, clock: FakeClock | None = None, **kwargs: object
) -> tuple[Router, MemoryCooldowns, list[CallRecord]]:
    calls: list[CallRecord] = []
    cooldowns = MemoryCooldowns(clock=clock or FakeClock())
    router = Router(list(providers), cooldowns, on_call=calls.append, retry_backoff=0.0, **kwargs)  # type: ignore[arg-type]
    return router, cooldowns, calls


async def test_first_healthy_provider_answers_and_the_rest_are_not_called() -> None:
    a, b = FakeProvider("gemini", default="from gemini"), FakeProvider("groq")
    router, _, calls = make(a, b)
    answer = await router.complete(MESSAGES, PARAMS)
    assert (answer.text, answer.provider, answer.model) == ("from gemini", "gemini", "fake-model")
    assert answer.usage.completion_tokens == 2
    assert (a.calls, b.calls) == (1, 0)
    assert [(c.provider, c.outcome) for c in calls] == [("gemini", "ok")]


async def test_server_error_is_retried_then_the_provider_cools_down_and_the_next_answers() -> None:
    clock = FakeClock()
    a = FakeProvider("gemini", retries=1, cooldown=300).then(ProviderServerError("boom"), ProviderServerError("boom"))
    b = FakeProvider("groq", default="from groq")
    router, cooldowns, calls = make(a, b, clock=clock)
    assert (await router.complete(MESSAGES, PARAMS)).provider == "groq"
    assert a.calls == 2, "one retry on the same provider for a 5xx"
    assert await cooldowns.admit("gemini") is Admission.BLOCKED
    assert (await router.complete(MESSAGES, PARAMS)).provider == "groq"
    assert a.calls == 2, "a cooling provider is skipped without a call"
    assert ("gemini", "skipped") in [(c.provider, c.outcome) for c in calls]


async def test_a_transient_error_recovers_on_the_retry() -> None:
    a = FakeProvider("gemini", default="second try").then(ProviderConnectionError("reset"))
    router, cooldowns, _ = make(a, FakeProvider("groq"))
    assert (await router.complete(MESSAGES, PARAMS)).text == "second try"
    assert await cooldowns.admit("gemini") is Admission.HEALTHY


async def test_rate_limit_honours_retry_after_then_one_probe_closes_the_circuit() -> None:
    clock = FakeClock()
    a = FakeProvider("gemini", default="back").then(ProviderRateLimited("slow down", retry_after=7))
    b = FakeProvider("groq", default="from groq")
    router, cooldowns, _ = make(a, b, clock=clock)
    assert (await router.complete(MESSAGES, PARAMS)).provider == "groq"
    assert a.calls == 1, "no retry on the same provider when a fallback exists"
    clock.advance(6.9)
    assert (await router.complete(MESSAGES, PARAMS)).provider == "groq"
    assert a.calls == 1
    clock.advance(0.2)
    assert (await router.complete(MESSAGES, PARAMS)).provider == "gemini", "the probe after Retry-After succeeds"
    assert await cooldowns.admit("gemini") is Admission.HEALTHY


async def test_half_open_lets_exactly_one_probe_through_and_a_failed_probe_trips_again() -> None:
    clock = FakeClock()
    cooldowns = MemoryCooldowns(clock=clock, probe_timeout=30)
    await cooldowns.trip("gemini", 10)
    clock.advance(11)
    assert [await cooldowns.admit("gemini") for _ in range(3)] == [
        Admission.PROBE,
        Admission.BLOCKED,
        Admission.BLOCKED,
    ]
    a = FakeProvider("gemini", cooldown=50).then(ProviderServerError("still down"))
    router = Router([a, FakeProvider("groq")], cooldowns, retry_backoff=0.0)
    clock.advance(31)  # the probe lease of the admits above expired unused
    assert (await router.complete(MESSAGES, PARAMS)).provider == "groq"
    assert a.calls == 1, "a probe is not retried"
    clock.advance(49)
    assert await cooldowns.admit("gemini") is Admission.BLOCKED


async def test_timeout_falls_back_at_once_without_retrying() -> None:
    a = FakeProvider("gemini", timeout=0.05, retries=3).then(Reply(text="late", delay=1.0))
    router, cooldowns, calls = make(a, FakeProvider("groq", default="in time"))
    answer = await router.complete(MESSAGES, PARAMS)
    assert (answer.text, a.calls, a.closed) == ("in time", 1, 1)
    assert calls[0].outcome == "provider_timeout"
    assert await cooldowns.admit("gemini") is Admission.BLOCKED


async def test_bad_request_from_our_input_is_not_tried_elsewhere() -> None:
    a = FakeProvider("gemini").then(ProviderBadRequest("invalid temperature"))
    b = FakeProvider("groq")
    router, cooldowns, _ = make(a, b)
    with pytest.raises(ProviderBadRequest):
        await router.complete(MESSAGES, PARAMS)
    assert b.calls == 0
    assert await cooldowns.admit("gemini") is Admission.HEALTHY, "our mistake is not the provider's"


async def test_context_too_long_moves_to_a_larger_window() -> None:
    a = FakeProvider("groq", context_window=8192).then(ContextTooLong("too long"))
    b = FakeProvider("openai", context_window=8192)
    c = FakeProvider("gemini", context_window=1_000_000, default="long context")
    router, cooldowns, _ = make(a, b, c)
    assert (await router.complete(MESSAGES, PARAMS)).text == "long context"
    assert b.calls == 0, "a window no larger than the one that failed is skipped"
    assert await cooldowns.admit("groq") is Admission.HEALTHY


async def test_auth_and_content_filter_fall_back_and_only_auth_cools_down() -> None:
    a = FakeProvider("gemini").then(ProviderAuthError("bad key"))
    b = FakeProvider("groq").then(ContentFiltered("blocked"))
    c = FakeProvider("openai", default="served")
    router, cooldowns, _ = make(a, b, c)
    assert (await router.complete(MESSAGES, PARAMS)).text == "served"
    assert (a.calls, b.calls) == (1, 1)
    assert await cooldowns.admit("gemini") is Admission.BLOCKED
    assert await cooldowns.admit("groq") is Admission.HEALTHY


async def test_when_every_provider_fails_the_attempts_are_reported() -> None:
    a = FakeProvider("gemini", retries=0).then(ProviderServerError("500"))
    b = FakeProvider("groq").then(ProviderAuthError("401"))
    router, _, _ = make(a, b)
    with pytest.raises(AllProvidersFailed) as info:
        await router.complete(MESSAGES, PARAMS)
    assert [(x["provider"], x["outcome"]) for x in info.value.attempts] == [
        ("gemini", "provider_server_error"),
        ("groq", "provider_auth_error"),
    ]
    with pytest.raises(AllProvidersFailed, match="cooling_down"):
        await router.complete(MESSAGES, PARAMS)


async def test_failure_after_the_first_token_ends_the_stream_and_never_mixes_providers() -> None:
    a = FakeProvider("gemini").then(
        Reply(text="the answer is forty two", error=ProviderServerError("drop"), fail_after_words=2)
    )
    b = FakeProvider("groq", default="other text")
    router, cooldowns, _ = make(a, b)
    received: list[object] = []
    with pytest.raises(StreamInterrupted) as info:
        await drain(router.stream(MESSAGES, PARAMS), received)
    assert received[0] == Started("gemini", "fake-model")
    assert "".join(e.text for e in received if isinstance(e, Delta)) == "the answer"
    assert b.calls == 0
    assert info.value.details["provider"] == "gemini"
    assert await cooldowns.admit("gemini") is Admission.BLOCKED


async def test_fallback_is_allowed_before_the_first_token() -> None:
    a = FakeProvider("gemini", retries=0).then(Reply(error=ProviderServerError("early"), fail_after_words=0))
    router, _, _ = make(a, FakeProvider("groq", default="clean answer"))
    events = [e async for e in router.stream(MESSAGES, PARAMS)]
    assert events[0] == Started("groq", "fake-model")
    assert "".join(e.text for e in events if isinstance(e, Delta)) == "clean answer"


async def test_consumer_stopping_early_closes_the_provider_stream() -> None:
    a = FakeProvider("gemini", default="one two three four five")
    router, _, _ = make(a)
    events = router.stream(MESSAGES, PARAMS)
    async for event in events:
        if isinstance(event, Delta):
            break
    await events.aclose()  # type: ignore[attr-defined]
    assert a.closed == 1


async def test_pinning_a_model_and_unknown_models() -> None:
    a, b = (
        FakeProvider("gemini", model="gemini-2.0-flash"),
        FakeProvider("groq", model="llama-3.1-8b-instant", default="pinned"),
    )
    router, _, _ = make(a, b, disabled={"openai": "OPENAI_API_KEY"})
    assert (await router.complete(MESSAGES, PARAMS, model="groq")).text == "pinned"
    assert (await router.complete(MESSAGES, PARAMS, model="llama-3.1-8b-instant")).provider == "groq"
    assert a.calls == 0
    with pytest.raises(UnknownModel) as info:
        router.chain("openai")
    assert "gemini (gemini-2.0-flash)" in info.value.message
    assert "openai needs OPENAI_API_KEY" in info.value.message
    assert [m["provider"] for m in router.models()] == ["gemini", "groq", "openai"]
    assert router.models()[2] == {"provider": "openai", "enabled": False, "enable_with": "OPENAI_API_KEY"}


async def test_rate_limit_without_a_fallback_waits_and_retries() -> None:
    a = FakeProvider("local", retries=1, default="after waiting").then(ProviderRateLimited("busy", retry_after=0.01))
    router, _, _ = make(a)
    assert (await router.complete(MESSAGES, PARAMS)).text == "after waiting"
    assert a.calls == 2


async def test_fifty_concurrent_calls_while_a_provider_flaps() -> None:
    clock = FakeClock()
    flapping = FakeProvider("gemini", retries=0, cooldown=0.0, default="gemini")
    flapping.then(*[ProviderServerError("flap") if i % 2 else Reply(text="gemini", delay=0.001) for i in range(50)])
    steady = FakeProvider("groq", default="groq")
    router, _, calls = make(flapping, steady, clock=clock)
    answers = await asyncio.gather(*(router.complete(MESSAGES, PARAMS) for _ in range(50)))
    assert len(answers) == 50
    assert {a.text for a in answers} <= {"gemini", "groq"}
    assert all(a.text == a.provider for a in answers), "each answer comes whole from the provider named"
    assert sum(1 for a in answers if a.provider == "gemini") > 0
    assert sum(1 for c in calls if c.outcome == "provider_server_error") > 0
