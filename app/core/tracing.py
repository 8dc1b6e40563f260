"""Langfuse traces when LANGFUSE_* keys are set; a no-op otherwise. Tracing never fails a request.

Langfuse 5 exports OpenTelemetry spans from a background thread; inputs and outputs pass through
the same masking as logs. LLM calls are recorded as generations with provider, model, outcome,
latency and token usage.
"""

from __future__ import annotations

from typing import Any

from app.core.logging import get_logger
from app.core.masking import mask

log = get_logger(__name__)


def _mask(*, data: Any, **_: Any) -> Any:
    return mask(data)


class Span:
    """A handle on one observation, or on nothing when tracing is off; every method is safe to call."""

    def __init__(self, observation: Any = None) -> None:
        self._observation = observation

    def child(self, name: str, *, as_type: str = "span", **fields: Any) -> Span:
        if self._observation is None:
            return NO_SPAN
        try:
            return Span(self._observation.start_observation(name=name, as_type=as_type, **fields))
        except Exception as exc:
            log.warning("could not start a Langfuse observation", error=str(exc))
            return NO_SPAN

    def end(self, **fields: Any) -> None:
        if self._observation is None:
            return
        try:
            if fields:
                self._observation.update(**fields)
            self._observation.end()
        except Exception as exc:
            log.warning("could not end a Langfuse observation", error=str(exc))


NO_SPAN = Span()


class Tracer:
    """``Tracer(None, None)`` is disabled; with keys it sends to ``host`` (Langfuse Cloud by default)."""

    def __init__(
        self,
        public_key: str | None,
        secret_key: str | None,
        *,
        host: str | None = None,
        environment: str | None = None,
        release: str | None = None,
    ) -> None:
        self._client: Any = None
        if not (public_key and secret_key):
            return
        try:
            from langfuse import Langfuse

            self._client = Langfuse(
                public_key=public_key,
                secret_key=secret_key,
                base_url=host,
                environment=environment,
                release=release,
                mask=_mask,
                flush_interval=2.0,
            )
        except Exception as exc:  # a tracing problem must never stop the app
            log.warning("Langfuse tracing is off: the client could not start", error=str(exc))
            self._client = None

    @property
    def enabled(self) -> bool:
        return self._client is not None

    def span(self, name: str, **fields: Any) -> Span:
        """A new trace's root observation (NO_SPAN when tracing is off)."""
        if self._client is None:
            return NO_SPAN
        try:
            return Span(self._client.start_observation(name=name, as_type="span", **fields))
        except Exception as exc:
            log.warning("could not start a Langfuse trace", error=str(exc))
            return NO_SPAN

    def generation(
        self,
        *,
        name: str,
        model: str,
        provider: str,
        outcome: str,
        seconds: float,
        usage: dict[str, int] | None = None,
        input: Any = None,
        output: Any = None,
        parent: Span | None = None,
    ) -> None:
        """Record one LLM call (also failed and skipped ones, at level WARNING), under ``parent`` when given."""
        if self._client is None:
            return
        fields: dict[str, Any] = {
            "model": model,
            "input": input,
            "metadata": {"provider": provider, "outcome": outcome, "latency_s": round(seconds, 4)},
            "level": "DEFAULT" if outcome == "ok" else "WARNING",
            "status_message": None if outcome == "ok" else outcome,
        }
        if parent is not None and parent is not NO_SPAN:
            parent.child(name, as_type="generation", **fields).end(output=output, usage_details=usage or None)
            return
        try:
            generation = self._client.start_observation(name=name, as_type="generation", **fields)
            generation.update(output=output, usage_details=usage or None)
            generation.end()
        except Exception as exc:
            log.warning("could not record a Langfuse generation", error=str(exc))

    def flush(self) -> None:
        if self._client is not None:
            try:
                self._client.flush()
            except Exception as exc:
                log.warning("could not flush Langfuse traces", error=str(exc))

    def shutdown(self) -> None:
        if self._client is not None:
            try:
                self._client.shutdown()
            except Exception as exc:
                log.warning("could not shut Langfuse down cleanly", error=str(exc))
