"""Who is calling, and may they: API-key lookups (briefly cached) and scope checks."""

from __future__ import annotations

import os
from pathlib import Path

from cachetools import TTLCache
from sqlalchemy.ext.asyncio import AsyncEngine

from app.auth.keys import ApiKey, count_active, create_key, find_key, hash_key
from app.core.errors import Forbidden, Unauthorized
from app.core.singleflight import SingleFlight


class Authenticator:
    """Resolves a presented key to an ApiKey. Lookups are cached ``cache_seconds`` (0: never), so a revoked
    key stops working within that time."""

    def __init__(self, engine: AsyncEngine, cache_seconds: float = 5.0) -> None:
        self.engine = engine
        self._cache: TTLCache[str, ApiKey] | None = (
            TTLCache(maxsize=10_000, ttl=cache_seconds) if cache_seconds > 0 else None
        )
        self._lookups: SingleFlight[ApiKey | None] = SingleFlight()

    async def authenticate(self, presented: str | None) -> ApiKey:
        if not presented:
            raise Unauthorized("An API key is required: send `Authorization: Bearer <key>` or `X-API-Key: <key>`.")
        digest = hash_key(presented)
        if self._cache is not None and digest in self._cache:
            return self._cache[digest]
        key = await self._lookups.run(digest, lambda: self._find(presented))
        if key is None:
            raise Unauthorized(
                "This API key is not valid (unknown or revoked). Create one with `python -m app keys create`."
            )
        if self._cache is not None:
            self._cache[digest] = key
        return key

    async def _find(self, presented: str) -> ApiKey | None:
        async with self.engine.connect() as conn:
            return await find_key(conn, presented)

    @staticmethod
    def authorize(key: ApiKey, scope: str, *alternatives: str) -> None:
        """The key must hold ``scope`` or one of the ``alternatives``."""
        allowed = (scope, *alternatives)
        if not any(key.allows(s) for s in allowed):
            wanted = " or ".join(f"'{s}'" for s in allowed)
            raise Forbidden(
                f"The API key {key.prefix}… lacks the {wanted} scope (it has: {', '.join(key.scopes)}).",
                details={"required_scope": scope} if not alternatives else {"required_scopes": list(allowed)},
            )


async def create_first_key(engine: AsyncEngine) -> str | None:
    """On a database with no active key, create an admin key and return it (once); else None."""
    async with engine.begin() as conn:
        if await count_active(conn):
            return None
        _, plain = await create_key(conn, "first admin key", ["admin"])
    return plain


def save_key_file(data_dir: Path, plain: str) -> Path:
    """Write the key to DATA_DIR/api-key, readable by its owner only (0600)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "api-key"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(plain + "\n")
    os.chmod(path, 0o600)
    return path
