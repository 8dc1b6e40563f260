"""Keeps the embedded PostgreSQL up: a server that dies (killed, OOM) is started again, and pools reconnect.

Without it, a killed embedded server stayed down until someone restarted Pagewise by hand.
Every ``interval`` seconds the engine is pinged; when PostgreSQL does not answer and its
postmaster is gone, it is started again on the same data directory (app/store/embedded.py). The
SQLAlchemy engine pings connections before use and asyncpg's pool replaces closed ones, so both
reconnect by themselves once the server is back. With DATABASE_URL set, the server is someone
else's to run: nothing is supervised.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.errors import DatabaseUnavailable
from app.core.logging import get_logger
from app.core.tasks import cancel_and_wait
from app.store import db
from app.store.embedded import restart_if_down

log = get_logger(__name__)


class EmbeddedSupervisor:
    def __init__(self, engine: AsyncEngine, data_dir: Path, *, interval: float = 2.0) -> None:
        self.engine = engine
        self.data_dir = data_dir
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="embedded-postgres-supervisor")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def check_once(self) -> bool:
        """Ping; restart the server if it is down. True when a restart happened."""
        try:
            await db.ping(self.engine, timeout=self.interval)
            return False
        except DatabaseUnavailable as exc:
            log.warning("the embedded PostgreSQL does not answer; checking its server", error=exc.message)
        try:
            return await asyncio.to_thread(restart_if_down, self.data_dir)
        except Exception as exc:  # logged, and tried again at the next check
            log.error("the embedded PostgreSQL could not be started again; retrying", error=str(exc))
            return False

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.check_once()
