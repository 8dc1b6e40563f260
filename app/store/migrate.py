"""Apply Alembic migrations to the configured database, after checking it can hold our schema."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, pool, text

from app.core.errors import ConfigError, DatabaseUnavailable
from app.core.logging import get_logger
from app.store.db import with_driver

log = get_logger(__name__)

ROOT = Path(__file__).resolve().parents[2]
MIN_PGVECTOR = (0, 5)


def alembic_config(url: str) -> Config:
    """Alembic config pointing at our migrations and ``url`` (no ini lookup from the cwd)."""
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.attributes["url"] = url
    return cfg


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".") if part.isdigit())


def check_pgvector(url: str) -> str:
    """Return the pgvector version the server offers; ConfigError when missing or too old."""
    engine = create_engine(with_driver(url, "psycopg2"), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            row = conn.execute(
                text(
                    "SELECT coalesce((SELECT extversion FROM pg_extension WHERE extname = 'vector'),"
                    " (SELECT default_version FROM pg_available_extensions WHERE name = 'vector'))"
                )
            ).scalar()
    except Exception as exc:
        raise DatabaseUnavailable(f"Cannot connect to PostgreSQL to migrate it: {exc}") from exc
    finally:
        engine.dispose()
    if row is None:
        raise ConfigError(
            "The PostgreSQL server has no pgvector extension. Install pgvector >= 0.5 on it, "
            "or unset DATABASE_URL to use the embedded server that ships with it."
        )
    if _version_tuple(str(row)) < MIN_PGVECTOR:
        raise ConfigError(f"pgvector {row} is too old: Pagewise needs >= 0.5 (HNSW). Upgrade the extension.")
    return str(row)


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database to ``revision``; safe to call from several processes at once."""
    pgvector = check_pgvector(url)
    command.upgrade(alembic_config(url), revision)
    log.info("database migrated", revision=revision, pgvector=pgvector)


def head_revision() -> str:
    """The newest migration in the repository."""
    head = ScriptDirectory.from_config(alembic_config("")).get_current_head()
    assert head is not None
    return head


def current_revision(url: str) -> str | None:
    """The revision the database is at, or None before the first migration."""
    engine = create_engine(with_driver(url, "psycopg2"), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
