"""What every provider adapter implements: one streaming method, plus declared capabilities.

An adapter turns a request into text deltas and translates every SDK failure into one of the
``ProviderError`` types at its boundary; the router decides on those types only.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Message:
    role: str  # "system" | "user" | "assistant"
    content: str


@dataclass(frozen=True)
class GenerationParams:
    temperature: float = 0.1
    max_tokens: int = 512
    stop: tuple[str, ...] = ()  # at most 4 (OpenAI's limit); generation ends before any of them


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class Delta:
    """A piece of streamed text; the last one of a stream may carry usage and a finish reason."""

    text: str = ""
    usage: Usage | None = None
    finish_reason: str | None = None


@dataclass(frozen=True)
class ProviderConfig:
    """Per-provider routing knobs (from settings)."""

    timeout: float = 30.0
    retries: int = 1
    cooldown: float = 300.0
    context_window: int = 8192


class Provider(Protocol):
    """One model at one provider. ``name`` is unique in the chain (e.g. ``groq``); ``model`` is its model id."""

    name: str
    model: str
    config: ProviderConfig

    def stream(self, messages: Sequence[Message], params: GenerationParams) -> AsyncGenerator[Delta, None]:
        """Yield text deltas; raise a ``ProviderError`` subtype on failure."""
        ...


@dataclass
class Completion:
    """A whole answer, with who produced it."""

    text: str
    provider: str
    model: str
    usage: Usage = field(default_factory=Usage)
    finish_reason: str | None = None


def estimate_tokens(messages: Sequence[Message]) -> int:
    """A cheap upper-bound-ish token count (≈ 4 characters a token) to skip windows that cannot fit."""
    return sum(len(m.content) for m in messages) // 4 + 8 * len(messages)
