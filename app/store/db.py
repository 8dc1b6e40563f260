"""Database URLs and the async SQLAlchemy engine shared by one worker process.

One libpq-style URL is the source of truth; drivers are derived from it: asyncpg for the app,
psycopg2 for Alembic and PGVectorStore's sync paths.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from app.core.errors import DatabaseUnavailable
from app.store.embedded import start_embedded


def normalise_url(url: str) -> URL:
    """Parse a PostgreSQL URL, accepting ``postgres://`` and any ``postgresql+driver://``."""
    parsed = make_url(url.replace("postgres://", "postgresql://", 1) if url.startswith("postgres://") else url)
    return parsed.set(drivername="postgresql")


def with_driver(url: str | URL, driver: str) -> str:
    """The same URL for a given SQLAlchemy driver (``asyncpg``, ``psycopg2``), password kept."""
    parsed = normalise_url(url) if isinstance(url, str) else url
    rendered: str = parsed.set(drivername=f"postgresql+{driver}").render_as_string(hide_password=False)
    return rendered


def libpq_url(url: str | URL) -> str:
    """A plain ``postgresql://`` URL usable by psql and psycopg2."""
    parsed = normalise_url(url) if isinstance(url, str) else url
    rendered: str = parsed.render_as_string(hide_password=False)
    return rendered


def resolve_database_url(database_url: str | None, data_dir: Path) -> str:
    """The URL to use: DATABASE_URL when set, else the embedded server (started if needed)."""
    if database_url:
        return libpq_url(database_url)
    return start_embedded(data_dir)


def create_engine(url: str, *, pool_size: int = 10, connect_timeout: float = 5.0, ef_search: int = 100) -> AsyncEngine:
    """An asyncpg engine with pre-ping, so a restarted database is picked up without a restart.

    Every connection starts with the HNSW search settings, so a vector search is one statement:
    ``ef_search`` and pgvector's iterative scan (filters never starve the top-k).
    """
    dsn = libpq_url(url)
    server_settings = {
        "application_name": "pagewise",
        "hnsw.ef_search": str(ef_search),
        "hnsw.iterative_scan": "relaxed_order",
    }

    async def connect() -> asyncpg.Connection:
        # A database that cannot be reached is DatabaseUnavailable (503 database_unavailable) wherever
        # a connection is asked for, never a raw OSError that would be a 500, even where a 401 belongs.
        try:
            return await asyncpg.connect(dsn, timeout=connect_timeout, server_settings=server_settings)
        except (
            TimeoutError,
            OSError,
            asyncpg.PostgresError,
            asyncpg.InterfaceError,
        ) as exc:  # dropped, refused, starting
            raise DatabaseUnavailable(UNREACHABLE) from exc

    return create_async_engine(
        with_driver(url, "asyncpg"),
        async_creator=connect,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_recycle=1800,
    )


UNREACHABLE = (
    "The database is not answering. Try again in a few seconds; if it lasts, /ready and the server log say more."
)


DATABASE_ERRORS: tuple[type[Exception], ...] = (DBAPIError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError)


def lost_connection(exc: BaseException) -> bool:
    """Whether a database error means the server went away (mid-query), rather than a bug in a query."""
    gone = (
        asyncpg.PostgresConnectionError,
        asyncpg.ConnectionDoesNotExistError,
        asyncpg.CannotConnectNowError,
        OSError,
    )
    if isinstance(exc, DBAPIError):
        cause = exc.orig.__cause__ if exc.orig is not None else None  # SQLAlchemy's adapter wraps asyncpg's error
        return bool(exc.connection_invalidated) or isinstance(exc.orig, gone) or isinstance(cause, gone)
    return isinstance(exc, gone)


async def ping(engine: AsyncEngine, timeout: float = 2.0) -> None:
    """Raise DatabaseUnavailable unless the database answers ``SELECT 1`` within ``timeout``."""
    try:
        async with asyncio.timeout(timeout):
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
    # asyncpg's errors on connect (e.g. the database was dropped) are not wrapped by SQLAlchemy.
    except DatabaseUnavailable:
        raise
    except (TimeoutError, SQLAlchemyError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise DatabaseUnavailable(f"PostgreSQL did not answer: {type(exc).__name__}: {exc}") from exc
