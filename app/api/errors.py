"""The only place that maps error types to HTTP: status codes, headers and the JSON error body.

Every error response is ``{"error": {"code", "message", "request_id"[, "details"]}}``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.core import errors
from app.store import db

STATUS_BY_TYPE: dict[type[errors.PagewiseError], int] = {
    errors.InvalidInput: 422,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.PayloadTooLarge: 413,
    errors.Unauthorized: 401,
    errors.Forbidden: 403,
    errors.RateLimited: 429,
    errors.DependencyUnavailable: 503,
    errors.ConfigError: 500,
    errors.ProviderBadRequest: 400,
    errors.ProviderError: 502,
    errors.AllProvidersFailed: 503,
    errors.StreamInterrupted: 502,
}

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
}

INTERNAL_ERROR_MESSAGE = (
    "Sorry, something went wrong on our side. It has been logged; "
    "if it keeps happening, report it with this request id."
)


def status_for(exc: errors.PagewiseError) -> int:
    """HTTP status of an error type (nearest registered base class wins)."""
    for cls in type(exc).__mro__:
        if cls in STATUS_BY_TYPE:
            return STATUS_BY_TYPE[cls]
    return 500


def request_id_of(request: Request) -> str | None:
    """The id the request-id middleware gave this request."""
    rid: str | None = getattr(request.state, "request_id", None)
    return rid


def error_body(
    code: str, message: str, request_id: str | None, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The JSON error envelope shared by every error response."""
    error: dict[str, Any] = {"code": code, "message": message, "request_id": request_id}
    if details:
        error["details"] = details
    return {"error": error}


async def _pagewise_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.PagewiseError)
    headers: dict[str, str] = {}
    if isinstance(exc, errors.RateLimited):
        headers["Retry-After"] = str(max(1, int(exc.retry_after)))
    if isinstance(exc, errors.Unauthorized):
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(
        error_body(exc.code, exc.message, request_id_of(request), exc.details),
        status_code=status_for(exc),
        headers=headers,
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [
        {"field": ".".join(str(p) for p in err.get("loc", ()) if p != "body"), "message": err.get("msg", "")}
        for err in exc.errors()
    ]
    summary = "; ".join(f"{p['field'] or 'body'}: {p['message']}" for p in problems[:5])
    return JSONResponse(
        error_body(
            "validation_error", f"The request is not valid: {summary}", request_id_of(request), {"errors": problems}
        ),
        status_code=422,
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else "Request failed."
    if exc.status_code == 404 and message == "Not Found":
        message = f"No such route: {request.method} {request.url.path}. See /docs for the API."
    if exc.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}."
    return JSONResponse(
        error_body(code, message, request_id_of(request)), status_code=exc.status_code, headers=exc.headers
    )


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    """The server went away mid-request: 503 database_unavailable. Any other database error is a bug: re-raised (500)."""
    if not db.lost_connection(exc):
        raise exc
    unavailable = errors.DatabaseUnavailable(db.UNREACHABLE)
    return await _pagewise_error(request, unavailable)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers; unhandled exceptions are caught by the request-id middleware."""
    app.add_exception_handler(errors.PagewiseError, _pagewise_error)
    for error_type in db.DATABASE_ERRORS:
        app.add_exception_handler(error_type, _database_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
