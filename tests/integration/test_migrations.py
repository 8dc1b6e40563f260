"""Migrations on real PostgreSQL 18 + pgvector: schema, indexes, PGVectorStore compatibility."""

from __future__ import annotations

import os
import subprocess
import sys

import psycopg2
import pytest
from alembic import command
from sqlalchemy import create_engine, text

from app.store import migrate
from app.store.db import with_driver
from app.store.vector_schema import index_name_for, table_for
from tests.conftest import REPO
from tests.helpers.postgres import PostgresForTests

INDEX = index_name_for("all-MiniLM-L6-v2", 384)


def _query(url: str, sql: str) -> list[tuple[object, ...]]:
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return list(cur.fetchall())
    finally:
        conn.close()


def test_fresh_database_migrates_to_head_and_is_idempotent(pg: PostgresForTests) -> None:
    with pg.database(migrated=False) as url:
        assert migrate.current_revision(url) is None
        migrate.upgrade(url)
        migrate.upgrade(url)
        assert migrate.current_revision(url) == migrate.head_revision()
        tables = {row[0] for row in _query(url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        assert {
            "documents",
            "document_versions",
            "document_pages",
            "files",
            "vector_tables",
            table_for(INDEX),
        } <= tables
        assert _query(url, "SELECT extversion FROM pg_extension WHERE extname = 'vector'") == [("0.8.5",)]


def test_vector_table_has_hnsw_cosine_and_the_lexical_index_its_postings(database_url: str) -> None:
    defs = dict(
        _query(database_url, f"SELECT indexname, indexdef FROM pg_indexes WHERE tablename = '{table_for(INDEX)}'")
    )
    hnsw = defs[f"{INDEX}_embedding_idx"]
    assert "USING hnsw (embedding vector_cosine_ops)" in hnsw
    assert "m='32'" in hnsw
    assert "ef_construction='64'" in hnsw
    assert f"{INDEX}_idx" not in defs, "ts_rank's GIN index is gone: BM25 reads lexical_postings"
    postings = dict(
        _query(database_url, "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'lexical_postings'")
    )
    assert "(lexeme, chunk) INCLUDE (document_id, tf, chunk_len)" in postings["lexical_postings_pkey"]
    assert "UNIQUE" in defs[f"{INDEX}_node_id_key"]
    active = _query(database_url, "SELECT index_name, embed_model, dim FROM vector_tables WHERE is_active")
    assert active == [(INDEX, "all-MiniLM-L6-v2", 384)]


def test_downgrade_then_upgrade_round_trips(pg: PostgresForTests) -> None:
    with pg.database() as url:
        command.downgrade(migrate.alembic_config(url), "base")
        tables = {row[0] for row in _query(url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        assert tables == {"alembic_version"}
        migrate.upgrade(url)
        assert migrate.current_revision(url) == migrate.head_revision()


def test_concurrent_migrations_from_several_processes_do_not_collide(pg: PostgresForTests) -> None:
    with pg.database(migrated=False) as url:
        env = {**os.environ, "DATABASE_URL": url}
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "app", "migrate"],
                cwd=REPO,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(3)
        ]
        results = [(p.wait(120), p.communicate()[1]) for p in procs]
        assert [code for code, _ in results] == [0, 0, 0], [err for _, err in results]
        assert migrate.current_revision(url) == migrate.head_revision()


def test_pgvectorstore_reads_and_writes_the_migrated_table(database_url: str) -> None:
    from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode
    from llama_index.core.vector_stores.types import VectorStoreQuery, VectorStoreQueryMode
    from llama_index.vector_stores.postgres import PGVectorStore

    store = PGVectorStore(
        connection_string=with_driver(database_url, "psycopg2"),
        async_connection_string=with_driver(database_url, "asyncpg"),
        table_name=INDEX,
        embed_dim=384,
        hybrid_search=True,
        text_search_config="english",
        schema_name="public",
        use_jsonb=True,
        perform_setup=False,
        initialization_fail_on_error=True,
        hnsw_kwargs={
            "hnsw_m": 32,
            "hnsw_ef_construction": 64,
            "hnsw_ef_search": 40,
            "hnsw_dist_method": "vector_cosine_ops",
        },
    )
    doc = "3f1c2a52-0b5e-4e8e-9d6f-2c8a3c1b7e10"
    nodes = [
        TextNode(
            id_=f"n{i}",
            text=text_,
            embedding=[float(i == j) for j in range(384)],
            metadata={"page": i + 1},
            relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=doc)},
        )
        for i, text_ in enumerate(["quarterly revenue grew", "pgvector stores embeddings", "unrelated words"])
    ]
    store.add(nodes)
    dense = store.query(VectorStoreQuery(query_embedding=[float(j == 1) for j in range(384)], similarity_top_k=1))
    assert [n.node_id for n in dense.nodes] == ["n1"]
    sparse = store.query(VectorStoreQuery(query_str="revenue", mode=VectorStoreQueryMode.SPARSE, sparse_top_k=2))
    assert [n.node_id for n in sparse.nodes] == ["n0"]
    engine = create_engine(with_driver(database_url, "psycopg2"))
    with engine.connect() as conn:
        ids = conn.execute(text(f"SELECT DISTINCT document_id::text FROM {table_for(INDEX)}")).scalars().all()
    engine.dispose()
    assert ids == [doc], "document_id is lifted out of the node's ref_doc_id by the generated column"
    with pytest.raises(Exception, match="node_id"):
        store.add([nodes[0]])  # stable node ids are unique: a re-insert is refused, never duplicated
