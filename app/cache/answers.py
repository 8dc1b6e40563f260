"""Answers to stateless questions, kept for CACHE_TTL_SECONDS in Redis (or in-process without Redis).

The key includes the corpus generation, so a document change makes every older answer unreachable.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from cachetools import TTLCache
from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.core.logging import get_logger

log = get_logger(__name__)

_SPACES = re.compile(r"\s+")


def normalise_question(question: str) -> str:
    """Case, spacing and trailing punctuation do not make a different question."""
    return _SPACES.sub(" ", question).strip().rstrip("?!. ").lower()


def cache_key(question: str, generation: str, **params: Any) -> str:
    material = json.dumps({"q": normalise_question(question), "g": generation, **params}, sort_keys=True, default=str)
    return "pagewise:answer:" + hashlib.sha256(material.encode()).hexdigest()


class AnswerCache:
    def __init__(self, redis: Redis | None, ttl_seconds: float) -> None:
        self.redis = redis
        self.ttl = ttl_seconds
        self._local: TTLCache[str, str] = TTLCache(maxsize=5000, ttl=max(ttl_seconds, 1))

    async def get(self, key: str) -> str | None:
        """The cached answer as the JSON object text it was stored as: a hit need not be decoded."""
        if self.ttl <= 0:
            return None
        if self.redis is None:
            raw: Any = self._local.get(key)
        else:
            try:
                raw = await self.redis.get(key)
            except RedisError as exc:
                log.warning("answer cache unavailable", error=str(exc))
                return None
        if not raw:
            return None
        return raw.decode() if isinstance(raw, bytes) else str(raw)

    async def set(self, key: str, value: dict[str, Any]) -> None:
        if self.ttl <= 0:
            return
        raw = json.dumps(value)
        if self.redis is None:
            self._local[key] = raw
            return
        try:
            await self.redis.set(key, raw, px=int(self.ttl * 1000))
        except RedisError as exc:
            log.warning("could not cache an answer", error=str(exc))
