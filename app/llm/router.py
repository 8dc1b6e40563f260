"""The priority router: one call goes down the provider chain until a provider answers.

Decisions are made on error *types* only (see docs/router.md and app/core/errors.py):
  - bad request caused by our input: raised at once, never retried elsewhere;
  - context too long: on to the next provider with a larger context window;
  - rate limited: cooldown for Retry-After (or the provider's cooldown); fall back without retrying
    when a fallback exists, else wait and retry;
  - timeout: cooldown, fall back (retrying a timeout would double the wait);
  - 5xx / connection / malformed reply: up to ``retries`` quick retries, then cooldown and fall back;
  - auth: cooldown, fall back; content filtered: fall back.
Streaming may fall back only until the first delta has been yielded; after that a failure raises
``StreamInterrupted`` and no other provider's text is ever appended.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field

from app.core.errors import (
    AllProvidersFailed,
    ContentFiltered,
    ContextTooLong,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderError,
    ProviderRateLimited,
    ProviderServerError,
    ProviderTimeout,
    StreamInterrupted,
    UnknownModel,
)
from app.core.logging import get_logger
from app.llm.base import Completion, Delta, GenerationParams, Message, Provider, Usage
from app.llm.cooldown import Admission, Cooldowns

log = get_logger(__name__)


@dataclass(frozen=True)
class Started:
    """Emitted once per stream, just before the first delta: who is answering."""

    provider: str
    model: str


@dataclass(frozen=True)
class CallRecord:
    """One attempt at one provider, for metrics and traces."""

    provider: str
    model: str
    outcome: str  # "ok", "skipped", or an error code
    seconds: float
    usage: Usage | None = None
    trace: object | None = None  # the caller's trace handle, passed through untouched


@dataclass
class _Chain:
    attempts: list[dict[str, object]] = field(default_factory=list)
    min_context: int = 0  # after a context-too-long, only larger windows are tried
    trace: object | None = None


class Router:
    """Sends each call down ``providers`` in order; ``disabled`` maps left-out providers to the env var enabling them."""

    def __init__(
        self,
        providers: Sequence[Provider],
        cooldowns: Cooldowns,
        *,
        disabled: dict[str, str] | None = None,
        on_call: Callable[[CallRecord], None] | None = None,
        clock: Callable[[], float] = time.perf_counter,
        retry_backoff: float = 0.05,
    ) -> None:
        names = [p.name for p in providers]
        if len(set(names)) != len(names):
            raise ValueError(f"provider names must be unique: {names}")
        self.providers = list(providers)
        self.cooldowns = cooldowns
        self.disabled = dict(disabled or {})
        self.on_call = on_call
        self.clock = clock
        self.retry_backoff = retry_backoff

    async def aclose(self) -> None:
        """Close every provider's connections (those that hold any)."""
        for provider in self.providers:
            close = getattr(provider, "aclose", None)
            if close is not None:
                await close()

    def models(self) -> list[dict[str, object]]:
        """Enabled providers in priority order, then the disabled ones with the variable that enables them."""
        enabled: list[dict[str, object]] = [
            {"provider": p.name, "model": p.model, "enabled": True, "context_window": p.config.context_window}
            for p in self.providers
        ]
        return enabled + [{"provider": n, "enabled": False, "enable_with": v} for n, v in self.disabled.items()]

    def chain(self, model: str | None = None) -> list[Provider]:
        """The providers a call may use: all of them, or those matching ``model`` (provider name or model id)."""
        if not model:
            return list(self.providers)
        picked = [p for p in self.providers if model in (p.name, p.model, f"{p.name}/{p.model}")]
        if picked:
            return picked
        valid = ", ".join(f"{p.name} ({p.model})" for p in self.providers) or "none"
        hint = "".join(f"; {n} needs {v}" for n, v in self.disabled.items() if n == model or model.startswith(f"{n}/"))
        raise UnknownModel(
            f"Unknown or disabled model {model!r}. Valid: {valid}{hint}. GET /api/v1/models lists them.",
            details={"valid": [p.name for p in self.providers], "disabled": self.disabled},
        )

    def _record(
        self, provider: Provider, outcome: str, started: float, usage: Usage | None = None, trace: object | None = None
    ) -> None:
        if self.on_call is not None:
            self.on_call(CallRecord(provider.name, provider.model, outcome, self.clock() - started, usage, trace))

    async def complete(
        self,
        messages: Sequence[Message],
        params: GenerationParams,
        model: str | None = None,
        *,
        trace: object | None = None,
    ) -> Completion:
        """The whole answer (the same routing as ``stream``)."""
        parts: list[str] = []
        provider = name = ""
        usage = Usage()
        finish: str | None = None
        async for event in self.stream(messages, params, model, trace=trace):
            if isinstance(event, Started):
                provider, name = event.provider, event.model
            else:
                parts.append(event.text)
                usage = event.usage or usage
                finish = event.finish_reason or finish
        return Completion("".join(parts), provider, name, usage, finish)

    async def stream(
        self,
        messages: Sequence[Message],
        params: GenerationParams,
        model: str | None = None,
        *,
        trace: object | None = None,
    ) -> AsyncIterator[Started | Delta]:
        """``Started`` then deltas from the first provider that answers; ``trace`` reaches every CallRecord."""
        providers = self.chain(model)
        state = _Chain(trace=trace)
        for index, provider in enumerate(providers):
            if provider.config.context_window <= state.min_context:
                state.attempts.append({"provider": provider.name, "outcome": "context_window_too_small"})
                continue
            admission = await self.cooldowns.admit(provider.name)
            if admission is Admission.BLOCKED:
                state.attempts.append({"provider": provider.name, "outcome": "cooling_down"})
                self._record(provider, "skipped", self.clock(), trace=state.trace)
                continue
            has_fallback = index < len(providers) - 1
            answered = False
            # aclosing: a consumer that stops (client disconnect) closes the provider's stream at once
            async with aclosing(
                self._try_provider(provider, messages, params, admission, has_fallback, state)
            ) as events:
                async for event in events:
                    answered = True
                    yield event
            if answered:
                return
        summary = "; ".join(f"{a['provider']}: {a['outcome']}" for a in state.attempts) or "no provider is configured"
        raise AllProvidersFailed(f"No LLM provider could answer ({summary}).", attempts=state.attempts)

    async def _try_provider(
        self,
        provider: Provider,
        messages: Sequence[Message],
        params: GenerationParams,
        admission: Admission,
        has_fallback: bool,
        state: _Chain,
    ) -> AsyncGenerator[Started | Delta, None]:
        """Yields the answer, or nothing when the chain should move on; raises only what must stop it."""
        tries = 0
        while True:
            started = self.clock()
            stream = provider.stream(messages, params)
            try:
                try:
                    first = await asyncio.wait_for(anext(stream), provider.config.timeout)
                except StopAsyncIteration:
                    first = Delta(finish_reason="stop")
                except TimeoutError as exc:
                    raise ProviderTimeout(
                        f"no reply within {provider.config.timeout:g} s", provider=provider.name
                    ) from exc
                except ProviderError:
                    raise
                except Exception as exc:  # an adapter bug must not take the chain down
                    log.exception("provider adapter raised an untranslated error", provider=provider.name)
                    raise ProviderServerError(f"{type(exc).__name__}: {exc}", provider=provider.name) from exc
            except ProviderError as error:
                await stream.aclose()
                self._record(provider, error.code, started, trace=state.trace)
                retry = await self._after_failure(provider, error, admission, has_fallback, tries, state)
                if retry is None:
                    return
                tries += 1
                await asyncio.sleep(retry)
                continue
            async with aclosing(self._relay(provider, stream, first, started, admission, state.trace)) as relayed:
                async for event in relayed:
                    yield event
            return

    async def _relay(
        self,
        provider: Provider,
        stream: AsyncGenerator[Delta, None],
        first: Delta,
        started: float,
        admission: Admission,
        trace: object | None = None,
    ) -> AsyncGenerator[Started | Delta, None]:
        """Pass the committed provider's deltas through; a failure now ends the stream."""
        usage: Usage | None = first.usage
        try:
            yield Started(provider.name, provider.model)
            yield first
            while True:
                try:
                    delta = await asyncio.wait_for(anext(stream), provider.config.timeout)
                except StopAsyncIteration:
                    break
                usage = delta.usage or usage
                yield delta
        except (ProviderError, TimeoutError) as exc:
            error = (
                exc if isinstance(exc, ProviderError) else ProviderTimeout("stalled mid-stream", provider=provider.name)
            )
            self._record(provider, error.code, started, trace=trace)
            await self.cooldowns.trip(provider.name, provider.config.cooldown)
            raise StreamInterrupted(
                f"{provider.name} failed after it started answering ({error.code}); the answer is incomplete.",
                details={"provider": provider.name, "cause": error.code},
            ) from exc
        finally:
            await stream.aclose()
        self._record(provider, "ok", started, usage, trace)
        if admission is Admission.PROBE:
            await self.cooldowns.success(provider.name)

    async def _after_failure(
        self,
        provider: Provider,
        error: ProviderError,
        admission: Admission,
        has_fallback: bool,
        tries: int,
        state: _Chain,
    ) -> float | None:
        """Seconds to wait before retrying this provider, or None to move on (after any cooldown)."""
        log.warning(
            "provider failed", provider=provider.name, model=provider.model, code=error.code, error=error.message
        )
        state.attempts.append({"provider": provider.name, "outcome": error.code, "error": error.message})
        if isinstance(error, ProviderBadRequest):
            raise error
        if isinstance(error, ContextTooLong):
            state.min_context = max(state.min_context, provider.config.context_window)
            return None
        if isinstance(error, ContentFiltered):
            return None
        if isinstance(error, ProviderRateLimited):
            wait = float(error.retry_after if error.retry_after is not None else provider.config.cooldown)
            if (
                not has_fallback
                and admission is not Admission.PROBE
                and tries < provider.config.retries
                and wait <= provider.config.timeout
            ):
                return wait
            await self.cooldowns.trip(provider.name, wait)
            return None
        retryable = not isinstance(error, (ProviderTimeout, ProviderAuthError))
        if retryable and admission is not Admission.PROBE and tries < provider.config.retries:
            return float(self.retry_backoff * 2.0**tries)
        await self.cooldowns.trip(provider.name, provider.config.cooldown)
        return None
