"""Which vector table holds the embeddings, for which model; and the PGVectorStore over it."""

from __future__ import annotations

from dataclasses import dataclass

from llama_index.vector_stores.postgres import PGVectorStore
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.core.errors import ConfigError
from app.core.logging import get_logger
from app.store.db import with_driver
from app.store.vector_schema import (
    HNSW_EF_CONSTRUCTION,
    HNSW_M,
    TEXT_SEARCH_CONFIG,
    create_vector_table_sql,
    index_name_for,
    table_for,
)

log = get_logger(__name__)


@dataclass(frozen=True)
class VectorTable:
    index_name: str
    embed_model: str
    dim: int


async def active_table(conn: AsyncConnection) -> VectorTable | None:
    row = (await conn.execute(text("SELECT index_name, embed_model, dim FROM vector_tables WHERE is_active"))).first()
    return VectorTable(row[0], row[1], int(row[2])) if row else None


async def create_table(conn: AsyncConnection, embed_model: str, dim: int) -> VectorTable:
    """Create (if needed) and register the table for a model, inactive until ``activate``."""
    index_name = index_name_for(embed_model, dim)
    for statement in create_vector_table_sql(index_name, dim):
        await conn.execute(text(statement))
    await conn.execute(
        text(
            "INSERT INTO vector_tables (index_name, embed_model, dim) VALUES (:n, :m, :d) ON CONFLICT (index_name) DO NOTHING"
        ),
        {"n": index_name, "m": embed_model, "d": dim},
    )
    return VectorTable(index_name, embed_model, dim)


async def activate(conn: AsyncConnection, table: VectorTable) -> None:
    await conn.execute(
        text("UPDATE vector_tables SET is_active = false WHERE is_active AND index_name <> :n"), {"n": table.index_name}
    )
    await conn.execute(text("UPDATE vector_tables SET is_active = true WHERE index_name = :n"), {"n": table.index_name})


async def ensure_table_for(conn: AsyncConnection, embed_model: str, dim: int) -> VectorTable:
    """The active table if it matches the model; an empty index switches; otherwise refuse."""
    current = await active_table(conn)
    if current is not None and (current.embed_model, current.dim) == (embed_model, dim):
        return current
    if current is not None:
        rows = (await conn.execute(text(f"SELECT count(*) FROM {table_for(current.index_name)}"))).scalar_one()
        if rows:
            raise ConfigError(
                f"The index holds {rows} chunks embedded with {current.embed_model} ({current.dim}-d), but the configured "
                f"embedder is {embed_model} ({dim}-d). Vectors of different models cannot be mixed. Either set "
                "EMBED_PROVIDER/EMBED_MODEL back, or run `python -m app reindex` to re-embed everything with the new model.",
                code="embedding_model_mismatch",
            )
    table = await create_table(conn, embed_model, dim)
    await activate(conn, table)
    log.info("vector table activated", index=table.index_name, model=embed_model, dim=dim)
    return table


def vector_store(database_url: str, table: VectorTable) -> PGVectorStore:
    """A PGVectorStore over our migrated table (no setup of its own; schema is ours)."""
    return PGVectorStore(
        connection_string=with_driver(database_url, "psycopg2"),
        async_connection_string=with_driver(database_url, "asyncpg"),
        table_name=table.index_name,
        schema_name="public",
        embed_dim=table.dim,
        hybrid_search=True,
        text_search_config=TEXT_SEARCH_CONFIG,
        use_jsonb=True,
        perform_setup=False,
        initialization_fail_on_error=True,
        hnsw_kwargs={
            "hnsw_m": HNSW_M,
            "hnsw_ef_construction": HNSW_EF_CONSTRUCTION,
            "hnsw_ef_search": 100,
            "hnsw_dist_method": "vector_cosine_ops",
        },
    )
