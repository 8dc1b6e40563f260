"""Creating, finding and revoking API keys.

A key is ``pgw_`` + 32 random bytes (URL-safe base64). Only its SHA-256 is stored: a key has far
more entropy than a password, so a fast hash is safe, and lookups stay one indexed query.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from app.core.errors import InvalidInput, NotFound
from app.store.tables import api_keys

PREFIX = "pgw_"
SCOPES = ("chat", "docs:write", "admin")


@dataclass(frozen=True)
class ApiKey:
    id: uuid.UUID
    name: str
    prefix: str
    scopes: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None

    def allows(self, scope: str) -> bool:
        """``admin`` allows everything."""
        return scope in self.scopes or "admin" in self.scopes


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def parse_scopes(raw: str | list[str]) -> tuple[str, ...]:
    scopes = tuple(dict.fromkeys(s.strip() for s in (raw.split(",") if isinstance(raw, str) else raw) if s.strip()))
    unknown = [s for s in scopes if s not in SCOPES]
    if not scopes or unknown:
        raise InvalidInput(
            f"Scopes must be some of {', '.join(SCOPES)} (got {', '.join(scopes) or 'none'}).", code="invalid_scopes"
        )
    return scopes


def _row(row: object) -> ApiKey:
    r = row._mapping  # type: ignore[attr-defined]
    return ApiKey(r["id"], r["name"], r["prefix"], tuple(r["scopes"]), r["created_at"], r["revoked_at"])


async def create_key(conn: AsyncConnection, name: str, scopes: str | list[str]) -> tuple[ApiKey, str]:
    """A new key; the plain text is returned once and never stored."""
    if not name.strip() or len(name) > 100:
        raise InvalidInput("A key needs a name of 1 to 100 characters.", code="invalid_key_name")
    plain = PREFIX + secrets.token_urlsafe(32)
    row = (
        await conn.execute(
            insert(api_keys)
            .values(
                name=name.strip(),
                prefix=plain[: len(PREFIX) + 8],
                key_hash=hash_key(plain),
                scopes=list(parse_scopes(scopes)),
            )
            .returning(*api_keys.c)
        )
    ).first()
    return _row(row), plain


async def find_key(conn: AsyncConnection, plain: str) -> ApiKey | None:
    """The active key with this plain text, or None."""
    row = (
        await conn.execute(
            select(api_keys).where(api_keys.c.key_hash == hash_key(plain), api_keys.c.revoked_at.is_(None))
        )
    ).first()
    return _row(row) if row else None


async def list_keys(conn: AsyncConnection) -> list[ApiKey]:
    return [_row(r) for r in await conn.execute(select(api_keys).order_by(api_keys.c.created_at))]


async def count_active(conn: AsyncConnection) -> int:
    return int((await conn.execute(select(func.count()).where(api_keys.c.revoked_at.is_(None)))).scalar_one())


async def revoke_key(conn: AsyncConnection, id_or_prefix: str) -> ApiKey:
    """Revoke by id or by the displayed prefix (``pgw_abcd1234``); the row stays for the record."""
    try:
        match = or_(api_keys.c.id == uuid.UUID(id_or_prefix), api_keys.c.prefix == id_or_prefix)
    except ValueError:
        match = api_keys.c.prefix == id_or_prefix
    rows = (
        await conn.execute(
            update(api_keys)
            .where(match, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=func.now())
            .returning(*api_keys.c)
        )
    ).all()
    if not rows:
        raise NotFound(f"No active API key with id or prefix {id_or_prefix!r}. `python -m app keys list` shows them.")
    return _row(rows[0])
