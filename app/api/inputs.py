"""Text that PostgreSQL can hold: a NUL character (U+0000) is refused at the door, with a 422.

PostgreSQL's text types cannot store NUL, and asyncpg refuses it in a parameter, so a NUL that
reached a query was a 500. It is refused in the URL (path and query parameters, for every route,
by an app-wide dependency) and in every JSON body (models derive from ``ApiModel``).
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from pydantic import BaseModel, model_validator

from app.core.errors import InvalidInput

NUL = "\x00"
_HINT = "a NUL character (\\u0000), which cannot be stored or searched; remove it and try again."


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return NUL in value
    if isinstance(value, BaseModel):
        return any(_holds_nul(v) for v in value.__dict__.values())
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return any(_holds_nul(v) for v in value)
    return False


class ApiModel(BaseModel):
    """A request body: no string in it, at any depth, may hold NUL."""

    @model_validator(mode="after")
    def _no_nul(self) -> ApiModel:
        for name, value in self.__dict__.items():
            if _holds_nul(value):
                raise ValueError(f"`{name}` contains {_HINT}")
        return self


async def url_without_nul(request: Request) -> None:
    """App-wide dependency: the path and every query parameter, decoded, are free of NUL."""
    if NUL in request.url.path:
        raise InvalidInput(f"The path contains {_HINT}", code="invalid_characters")
    for name, value in request.query_params.multi_items():
        if NUL in name or NUL in value:
            raise InvalidInput(
                f"The query parameter `{name.replace(NUL, '')}` contains {_HINT}", code="invalid_characters"
            )
