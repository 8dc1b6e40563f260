"""Re-embed every stored chunk with the configured model into a table of its own, then switch.

Chunk texts and metadata are copied as they are (no PDF is parsed again); only vectors change.
Safe to re-run after a crash: rows already in the new table are skipped.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.logging import get_logger
from app.embed import Embedder
from app.store.chunks import vector_literal
from app.store.vector_schema import table_for
from app.store.vectors import activate, active_table, create_table

log = get_logger(__name__)


async def reindex(
    engine: AsyncEngine, embedder: Embedder, batch_size: int = 128, drop_old: bool = True
) -> dict[str, Any]:
    """Fill the new model's table from the active one, activate it, and drop the old table."""
    async with engine.begin() as conn:
        current = await active_table(conn)
        target = await create_table(conn, embedder.model_id, embedder.dim)
    if current is None or current.index_name == target.index_name:
        async with engine.begin() as conn:
            await activate(conn, target)
        return {"from": current.index_name if current else None, "to": target.index_name, "chunks": 0}
    source, dest = table_for(current.index_name), table_for(target.index_name)
    copied = 0
    last_id = 0
    while True:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    text(
                        f"SELECT s.id, s.text, s.metadata_, s.node_id FROM {source} s WHERE s.id > :last"
                        f" AND NOT EXISTS (SELECT 1 FROM {dest} d WHERE d.node_id = s.node_id) ORDER BY s.id LIMIT :n"
                    ),
                    {"last": last_id, "n": batch_size},
                )
            ).all()
        if not rows:
            break
        vectors = await asyncio.to_thread(embedder.model.get_text_embedding_batch, [r[1] for r in rows])
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    f"INSERT INTO {dest} (text, metadata_, node_id, embedding)"
                    " VALUES (:text, CAST(:meta AS jsonb), :node_id, CAST(:embedding AS vector))"
                ),
                [
                    {"text": r[1], "meta": _json(r[2]), "node_id": r[3], "embedding": vector_literal(v)}
                    for r, v in zip(rows, vectors, strict=True)
                ],
            )
        copied += len(rows)
        last_id = rows[-1][0]
        log.info("reindex progress", chunks=copied)
    async with engine.begin() as conn:
        await activate(conn, target)
        if drop_old:
            await conn.execute(text(f"DROP TABLE {source}"))
            await conn.execute(text("DELETE FROM vector_tables WHERE index_name = :n"), {"n": current.index_name})
    return {"from": current.index_name, "to": target.index_name, "chunks": copied}


def _json(value: Any) -> str:
    import json

    return value if isinstance(value, str) else json.dumps(value)
