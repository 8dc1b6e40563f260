"""An embedded PostgreSQL for the test session, a migrated template, and one fresh database per test.

``CREATE DATABASE … TEMPLATE`` copies the migrated schema in milliseconds, so every test gets
its own real database instead of sharing state.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg2
from psycopg2 import sql

from app.store import migrate
from app.store.db import normalise_url
from app.store.embedded import create_database, start_embedded

TEMPLATE = "pagewise_template"


def database_url(server_url: str, name: str) -> str:
    rendered: str = normalise_url(server_url).set(database=name).render_as_string(hide_password=False)
    return rendered


class PostgresForTests:
    """One embedded server (under a temp ``DATA_DIR``) with a migrated template database."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.template_url = start_embedded(data_dir, database=TEMPLATE)
        migrate.upgrade(self.template_url)
        self.admin_url = database_url(self.template_url, "postgres")

    def _admin(self) -> psycopg2.extensions.connection:
        conn = psycopg2.connect(self.admin_url)
        conn.autocommit = True
        return conn

    def create_database(self, migrated: bool = True) -> str:
        name = f"t_{uuid.uuid4().hex[:16]}"
        if migrated:
            conn = self._admin()
            try:
                with conn.cursor() as cur:
                    cur.execute(
                        sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(TEMPLATE))
                    )
            finally:
                conn.close()
        else:
            create_database(self.admin_url, name)
        return database_url(self.template_url, name)

    def drop_database(self, url: str) -> None:
        name = normalise_url(url).database
        conn = self._admin()
        try:
            with conn.cursor() as cur:
                cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        finally:
            conn.close()

    @contextmanager
    def database(self, migrated: bool = True) -> Iterator[str]:
        url = self.create_database(migrated)
        try:
            yield url
        finally:
            self.drop_database(url)
