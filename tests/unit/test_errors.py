from __future__ import annotations

import pytest

from app.api.errors import STATUS_BY_TYPE, error_body, status_for
from app.core import errors


@pytest.mark.parametrize(
    ("exc", "status", "code"),
    [
        (errors.InvalidInput("x"), 422, "invalid_input"),
        (errors.InvalidInput("x", code="pdf_encrypted"), 422, "pdf_encrypted"),
        (errors.NotFound("x"), 404, "not_found"),
        (errors.Conflict("x"), 409, "conflict"),
        (errors.PayloadTooLarge("x"), 413, "payload_too_large"),
        (errors.Unauthorized("x"), 401, "unauthorized"),
        (errors.Forbidden("x"), 403, "forbidden"),
        (errors.RateLimited("x", retry_after=3), 429, "rate_limited"),
        (errors.DatabaseUnavailable("x"), 503, "database_unavailable"),
        (errors.RedisUnavailable("x"), 503, "redis_unavailable"),
        (errors.ConfigError("x"), 500, "invalid_config"),
        (errors.PagewiseError("x"), 500, "internal_error"),
    ],
)
def test_each_error_type_has_a_status_and_stable_code(exc: errors.PagewiseError, status: int, code: str) -> None:
    assert status_for(exc) == status
    assert exc.code == code


def test_every_public_error_type_is_mapped() -> None:
    public = [
        cls
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, errors.PagewiseError) and cls is not errors.PagewiseError
    ]
    for cls in public:
        assert any(base in STATUS_BY_TYPE for base in cls.__mro__), cls


def test_error_body_shape() -> None:
    assert error_body("c", "m", "r") == {"error": {"code": "c", "message": "m", "request_id": "r"}}
    assert error_body("c", "m", None, {"a": 1})["error"]["details"] == {"a": 1}
