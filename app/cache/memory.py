"""Conversation memory: the last N question/answer pairs per (API key, session), 30 days from last use.

Keyed by the API key's id, so one key can never read another key's sessions. Redis when
configured (a list per session, trimmed and expired in one pipeline), in-process otherwise.
"""

from __future__ import annotations

import json
import time
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.core.logging import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class Turn:
    question: str
    answer: str
    at: float


class ConversationMemory:
    def __init__(self, redis: Redis | None, *, turns: int = 20, ttl_seconds: float = 30 * 86400) -> None:
        self.redis = redis
        self.turns = turns
        self.ttl = ttl_seconds
        self._local: dict[str, tuple[float, deque[Turn]]] = {}

    @staticmethod
    def _key(owner: str, session: str) -> str:
        return f"pagewise:memory:{owner}:{session}"

    async def load(self, owner: str, session: str) -> list[Turn]:
        """Oldest first; reading refreshes the expiry."""
        key = self._key(owner, session)
        if self.redis is None:
            expires, turns = self._local.get(key, (0.0, deque()))
            if expires < time.time():
                self._local.pop(key, None)
                return []
            self._local[key] = (time.time() + self.ttl, turns)
            return list(turns)
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.lrange(key, 0, -1)
                pipe.pexpire(key, int(self.ttl * 1000))
                raw, _ = await pipe.execute()
        except RedisError as exc:
            log.warning("conversation memory unavailable; answering without it", error=str(exc))
            return []
        return [Turn(**json.loads(item)) for item in raw]

    async def append(self, owner: str, session: str, question: str, answer: str) -> None:
        turn = Turn(question, answer, time.time())
        key = self._key(owner, session)
        if self.redis is None:
            _, turns = self._local.get(key, (0.0, deque()))
            turns = deque(turns, maxlen=self.turns)
            turns.append(turn)
            self._local[key] = (time.time() + self.ttl, turns)
            return
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.rpush(key, json.dumps(asdict(turn)))
                pipe.ltrim(key, -self.turns, -1)
                pipe.pexpire(key, int(self.ttl * 1000))
                await pipe.execute()
        except RedisError as exc:
            log.warning("could not remember this turn", error=str(exc))

    async def clear(self, owner: str, session: str) -> bool:
        key = self._key(owner, session)
        if self.redis is None:
            return self._local.pop(key, None) is not None
        try:
            return bool(await self.redis.delete(key))
        except RedisError as exc:
            log.warning("could not clear a session", error=str(exc))
            return False

    @staticmethod
    def as_json(turns: list[Turn]) -> list[dict[str, Any]]:
        return [asdict(t) for t in turns]
