"""What `make db-status` shows: server and pgvector versions, schema revision, tables and indexes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

_TABLES = text(
    """
    SELECT c.relname AS name,
           coalesce(s.n_live_tup, greatest(c.reltuples, 0))::bigint AS estimated_rows,
           pg_total_relation_size(c.oid) AS total_bytes,
           pg_relation_size(c.oid) AS table_bytes
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
    WHERE c.relkind = 'r' AND n.nspname = current_schema()
    ORDER BY c.relname
    """
)

_INDEXES = text(
    """
    SELECT i.relname AS name, t.relname AS table_name, am.amname AS method,
           pg_relation_size(i.oid) AS bytes
    FROM pg_index x
    JOIN pg_class i ON i.oid = x.indexrelid
    JOIN pg_class t ON t.oid = x.indrelid
    JOIN pg_am am ON am.oid = i.relam
    JOIN pg_namespace n ON n.oid = t.relnamespace
    WHERE n.nspname = current_schema()
    ORDER BY t.relname, i.relname
    """
)


async def database_status(engine: AsyncEngine) -> dict[str, Any]:
    """Collect versions, revision, tables and index sizes from the live database."""
    async with engine.connect() as conn:
        server = (await conn.execute(text("SHOW server_version"))).scalar()
        pgvector = (await conn.execute(text("SELECT extversion FROM pg_extension WHERE extname = 'vector'"))).scalar()
        has_alembic = (await conn.execute(text("SELECT to_regclass('alembic_version') IS NOT NULL"))).scalar()
        revision = (
            (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar() if has_alembic else None
        )
        database = (await conn.execute(text("SELECT current_database()"))).scalar()
        size = (await conn.execute(text("SELECT pg_database_size(current_database())"))).scalar()
        tables = [dict(row._mapping) for row in await conn.execute(_TABLES)]
        indexes = [dict(row._mapping) for row in await conn.execute(_INDEXES)]
    return {
        "server_version": server,
        "pgvector_version": pgvector,
        "database": database,
        "database_bytes": size,
        "schema_revision": revision,
        "tables": tables,
        "indexes": indexes,
    }


def human_bytes(n: int) -> str:
    """1536 -> '1.5 KiB'."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def render_status(status: dict[str, Any]) -> str:
    """Plain-text report for a terminal."""
    lines = [
        f"PostgreSQL {status['server_version']}  pgvector {status['pgvector_version'] or 'NOT INSTALLED'}",
        f"database {status['database']} ({human_bytes(status['database_bytes'])}), "
        f"schema revision {status['schema_revision'] or 'none (run: python -m app migrate)'}",
        "",
        f"{'table':<40} {'rows (est.)':>12} {'total':>12}",
    ]
    for t in status["tables"]:
        lines.append(f"{t['name']:<40} {t['estimated_rows']:>12} {human_bytes(t['total_bytes']):>12}")
    lines += ["", f"{'index':<48} {'table':<32} {'method':<7} {'size':>10}"]
    for i in status["indexes"]:
        lines.append(f"{i['name']:<48} {i['table_name']:<32} {i['method']:<7} {human_bytes(i['bytes']):>10}")
    return "\n".join(lines)
