"""Alembic environment: runs migrations over psycopg2, one process at a time (advisory lock)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool, text

from app.store.db import with_driver
from app.store.tables import metadata

# Any constant works; it only has to be the same for every Pagewise process.
MIGRATION_LOCK_ID = 72_430_001

config = context.config


def _url() -> str:
    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        from app.settings import load_settings
        from app.store.db import resolve_database_url

        settings = load_settings()
        secret = settings.database_url.get_secret_value() if settings.database_url else None
        url = resolve_database_url(secret, settings.data_dir)
    return str(url)


def run_migrations_offline() -> None:
    context.configure(url=with_driver(_url(), "psycopg2"), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = create_engine(with_driver(_url(), "psycopg2"), poolclass=pool.NullPool)
    with engine.connect() as connection:
        connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK_ID})
        connection.commit()
        try:
            context.configure(connection=connection, target_metadata=metadata, transaction_per_migration=True)
            with context.begin_transaction():
                context.run_migrations()
            connection.commit()
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK_ID})
            connection.commit()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
