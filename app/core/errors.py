"""The one error tree of Pagewise: every failure a user can see is one of these types.

Third-party exceptions are translated at the boundary (``raise Mapped(...) from exc``);
only ``app/api/errors.py`` knows which HTTP status each type becomes.

    PagewiseError                    code: internal_error
    ├── ConfigError                  invalid_config     (bad env var / settings)
    ├── InvalidInput                 invalid_input      (the caller sent something we refuse)
    ├── NotFound                     not_found
    ├── Conflict                     conflict
    ├── PayloadTooLarge              payload_too_large
    ├── Unauthorized                 unauthorized       (missing or wrong API key)
    ├── Forbidden                    forbidden          (key lacks the scope)
    ├── RateLimited                  rate_limited       (carries retry_after seconds)
    ├── UnknownModel                 unknown_model      (?model= names no enabled model; lists valid ones)
    ├── ProviderError                provider_error     (one LLM call failed; the router decides on the subtype)
    │   ├── ProviderTimeout          provider_timeout         → retry, then fall back
    │   ├── ProviderRateLimited      provider_rate_limited    → cool down for Retry-After, fall back
    │   ├── ProviderServerError      provider_server_error    → retry, then fall back (5xx, malformed reply)
    │   ├── ProviderConnectionError  provider_connection_error → retry, then fall back
    │   ├── ProviderAuthError        provider_auth_error      → cool down, fall back (a key to fix)
    │   ├── ProviderBadRequest       provider_bad_request     → our input is wrong: no fallback
    │   ├── ContextTooLong           context_too_long         → a provider with a larger context window
    │   └── ContentFiltered          content_filtered         → fall back, no cooldown
    ├── AllProvidersFailed           all_providers_failed (every provider in the chain failed or is cooling down)
    ├── StreamInterrupted            stream_interrupted (a provider failed after its first token reached the client)
    └── DependencyUnavailable        dependency_unavailable
        ├── DatabaseUnavailable      database_unavailable
        ├── RedisUnavailable         redis_unavailable
        └── EmbeddingUnavailable     embedding_unavailable (remote embedder down after retries)

A subclass may refine ``code`` per instance (e.g. ``InvalidInput(code="pdf_encrypted")``)
so clients get a stable, specific code while handlers still decide on the type.
"""

from __future__ import annotations

from typing import Any, ClassVar


class PagewiseError(Exception):
    """Base of every error Pagewise raises on purpose; ``message`` is written for the user."""

    default_code: ClassVar[str] = "internal_error"

    def __init__(self, message: str, *, code: str | None = None, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.details = details or {}


class ConfigError(PagewiseError):
    """Settings or environment are invalid; raised at start, before serving anything."""

    default_code = "invalid_config"


class InvalidInput(PagewiseError):
    """The request or file is not acceptable as sent; the message says what to change."""

    default_code = "invalid_input"


class NotFound(PagewiseError):
    """The named resource does not exist (or is not visible to this key)."""

    default_code = "not_found"


class Conflict(PagewiseError):
    """The request clashes with the current state (e.g. a concurrent change)."""

    default_code = "conflict"


class PayloadTooLarge(PagewiseError):
    """The upload is larger than the configured limit."""

    default_code = "payload_too_large"


class Unauthorized(PagewiseError):
    """No API key, or one we do not know."""

    default_code = "unauthorized"


class Forbidden(PagewiseError):
    """The API key is valid but lacks the scope the route needs."""

    default_code = "forbidden"


class RateLimited(PagewiseError):
    """Too many requests in the current window; retry after ``retry_after`` seconds."""

    default_code = "rate_limited"

    def __init__(
        self, message: str, *, retry_after: int, code: str | None = None, details: dict[str, Any] | None = None
    ):
        super().__init__(message, code=code, details=details)
        self.retry_after = retry_after


class UnknownModel(InvalidInput):
    """``?model=`` names no enabled provider or model; the message lists the valid ones."""

    default_code = "unknown_model"


class ProviderError(PagewiseError):
    """One call to one LLM provider failed; translated from the SDK's exception at the adapter."""

    default_code = "provider_error"

    def __init__(
        self, message: str, *, provider: str = "", code: str | None = None, details: dict[str, Any] | None = None
    ):
        super().__init__(message, code=code, details=details)
        self.provider = provider


class ProviderTimeout(ProviderError):
    default_code = "provider_timeout"


class ProviderRateLimited(ProviderError):
    """429: ``retry_after`` seconds from the provider's Retry-After header, when it sent one."""

    default_code = "provider_rate_limited"

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        retry_after: float | None = None,
        details: dict[str, Any] | None = None,
    ):
        super().__init__(message, provider=provider, details=details)
        self.retry_after = retry_after


class ProviderServerError(ProviderError):
    default_code = "provider_server_error"


class ProviderConnectionError(ProviderError):
    default_code = "provider_connection_error"


class ProviderAuthError(ProviderError):
    default_code = "provider_auth_error"


class ProviderBadRequest(ProviderError):
    default_code = "provider_bad_request"


class ContextTooLong(ProviderError):
    default_code = "context_too_long"


class ContentFiltered(ProviderError):
    default_code = "content_filtered"


class AllProvidersFailed(PagewiseError):
    """No provider could answer; ``attempts`` says what happened to each (callers fall back to extractive)."""

    default_code = "all_providers_failed"

    def __init__(self, message: str, *, attempts: list[dict[str, Any]]):
        super().__init__(message, details={"attempts": attempts})
        self.attempts = attempts


class StreamInterrupted(PagewiseError):
    """The answering provider failed mid-stream; text already sent is never mixed with another's."""

    default_code = "stream_interrupted"


class DependencyUnavailable(PagewiseError):
    """A backing service (database, Redis) cannot be reached right now."""

    default_code = "dependency_unavailable"


class DatabaseUnavailable(DependencyUnavailable):
    """PostgreSQL cannot be reached or refused the connection."""

    default_code = "database_unavailable"


class RedisUnavailable(DependencyUnavailable):
    """Redis cannot be reached."""

    default_code = "redis_unavailable"


class EmbeddingUnavailable(DependencyUnavailable):
    """The embedding provider failed after its retries (timeout, 5xx, 429, network)."""

    default_code = "embedding_unavailable"
