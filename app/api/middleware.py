"""Request id, access log, HTTP metrics and last-resort error handling, as one pure ASGI middleware.

Pure ASGI (not BaseHTTPMiddleware) keeps streaming responses streaming and costs microseconds.
The metrics are those prometheus-fastapi-instrumentator exposed (same names and labels), counted
here where the request is already timed: the instrumentator's own middleware took ~0.1 ms per
request, a fifth of a cached answer's whole cost (scripts/benchmark_chat.py).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.errors import INTERNAL_ERROR_MESSAGE, error_body
from app.core.logging import get_logger

log = get_logger("pagewise.access")

_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_QUIET_PATHS = frozenset({"/health", "/ready", "/metrics"})


class HttpMetrics:
    """``http_requests_total`` {handler, method, status class} and ``http_request_duration_seconds``
    {handler, method}; ``handler`` is the route template (``none`` for unmatched paths)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests by route template, method and status class.",
            ["handler", "method", "status"],
            registry=registry,
        )
        self.duration = Histogram(
            "http_request_duration_seconds",
            "Time to the end of the response, by route template and method.",
            ["handler", "method"],
            registry=registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
        )
        self._series: dict[tuple[str, str, str], tuple[Any, Any]] = {}

    def observe(self, scope: Scope, status: int, seconds: float) -> None:
        handler = getattr(scope.get("route"), "path", None) or "none"
        if handler == "/metrics":
            return
        labels = (handler, scope.get("method", ""), f"{status // 100}xx")
        series = self._series.get(labels)
        if series is None:  # labels() costs a lock and a dict lookup: keep the children
            series = self._series[labels] = (self.requests.labels(*labels), self.duration.labels(*labels[:2]))
        series[0].inc()
        series[1].observe(seconds)


class RequestContextMiddleware:
    """Gives each request an id (or keeps a sane incoming ``X-Request-ID``), logs it, counts it, returns it."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics | None = None) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, b"x-request-id")
        request_id = incoming if incoming and _VALID_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                headers.extend(_rate_limit_headers(scope))
                headers.extend(_security_headers(scope))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unhandled error", method=scope.get("method"), path=scope.get("path"))
            if not response_started:
                await _send_internal_error(send, request_id)
            status = 500
        finally:
            seconds = time.perf_counter() - started
            if self.metrics is not None:
                self.metrics.observe(scope, status, seconds)
            path = scope.get("path", "")
            level = "debug" if path in _QUIET_PATHS and status < 400 else "info"
            getattr(log, level)(
                "request",
                method=scope.get("method"),
                path=path,
                status=status,
                duration_ms=round(seconds * 1000, 2),
                client=(scope.get("client") or ("?",))[0],
            )
            structlog.contextvars.clear_contextvars()


# On every response: no MIME sniffing, no framing, no referrer, no cross-origin window handle.
_SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
# The API serves JSON, files and text: nothing it sends may load or run anything. The interactive
# docs (/docs, /redoc) are HTML that loads Swagger UI / ReDoc from their CDN, so they go without it.
_CSP = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")
_HTML_DOC_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})


def _security_headers(scope: Scope) -> list[tuple[bytes, bytes]]:
    if scope.get("path") in _HTML_DOC_PATHS:
        return _SECURITY_HEADERS
    return [*_SECURITY_HEADERS, _CSP]


def _rate_limit_headers(scope: Scope) -> list[tuple[bytes, bytes]]:
    """X-RateLimit-* from the decision the auth dependency left in the request state."""
    decision = scope.get("state", {}).get("rate_limit")
    if decision is None:
        return []
    return [
        (b"x-ratelimit-limit", str(decision.limit).encode()),
        (b"x-ratelimit-remaining", str(decision.remaining).encode()),
        (b"x-ratelimit-reset", str(decision.retry_after).encode()),
        (b"x-ratelimit-scope", decision.scope.encode()),
    ]


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            decoded: str = value.decode("latin-1")
            return decoded
    return None


async def _send_internal_error(send: Send, request_id: str) -> None:
    body: dict[str, Any] = error_body("internal_error", INTERNAL_ERROR_MESSAGE, request_id)
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 500,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"x-request-id", request_id.encode()),
                *_security_headers({}),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
