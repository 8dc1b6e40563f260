"""Every LLM call recorded: Prometheus metrics, and a Langfuse generation when tracing is on."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from app.core.tracing import Span, Tracer
from app.llm.router import CallRecord


class LLMMetrics:
    """Pass an instance as the router's ``on_call``."""

    def __init__(self, registry: CollectorRegistry, tracer: Tracer | None = None) -> None:
        self.tracer = tracer
        labels = ["provider", "model", "outcome"]
        self.calls = Counter(
            "llm_calls_total",
            "LLM provider calls by outcome (ok, skipped, or an error code).",
            labels,
            registry=registry,
        )
        self.seconds = Histogram(
            "llm_call_seconds",
            "Time from request to the end of the provider's answer (or its failure).",
            labels,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120),
            registry=registry,
        )
        self.tokens = Counter(
            "llm_tokens_total",
            "Tokens by provider and kind (prompt, completion).",
            ["provider", "model", "kind"],
            registry=registry,
        )

    def __call__(self, record: CallRecord) -> None:
        self.calls.labels(record.provider, record.model, record.outcome).inc()
        if record.outcome != "skipped":
            self.seconds.labels(record.provider, record.model, record.outcome).observe(record.seconds)
        usage = None
        if record.usage is not None:
            self.tokens.labels(record.provider, record.model, "prompt").inc(record.usage.prompt_tokens)
            self.tokens.labels(record.provider, record.model, "completion").inc(record.usage.completion_tokens)
            usage = {"input": record.usage.prompt_tokens, "output": record.usage.completion_tokens}
        if self.tracer is not None:
            self.tracer.generation(
                name=f"llm:{record.provider}",
                model=record.model,
                provider=record.provider,
                outcome=record.outcome,
                seconds=record.seconds,
                usage=usage,
                parent=record.trace if isinstance(record.trace, Span) else None,
            )
