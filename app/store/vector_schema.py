"""DDL of a chunk table PGVectorStore can read and write, shared by migrations and `reindex`.

PGVectorStore (``perform_setup=False``) expects ``data_<name>`` with id, text, metadata_,
node_id, embedding and, for full text, a generated ``text_search_tsv``. We add what our
invariants need on top: a unique node id (upserts are idempotent), the document id lifted out
of the metadata (``ref_doc_id``: LlamaIndex writes the node's source document there, and
overwrites any ``document_id`` key with it) together with the page number and page checksum,
which is how a chunk is matched to the pages of a document's current version, and an HNSW cosine index.
Full text is ranked by BM25 from the lexical index (app/store/lexical.py), not from ``text_search_tsv``.
One table per embedding model and dimension; ``vector_tables`` records which one is active.
"""

from __future__ import annotations

import re

HNSW_M = 32
HNSW_EF_CONSTRUCTION = 64
TEXT_SEARCH_CONFIG = "english"

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")


def index_name_for(model_slug: str, dim: int) -> str:
    """PGVectorStore's ``table_name`` for a model, e.g. ``chunks_minilm_l6_v2_384``."""
    slug = re.sub(r"[^a-z0-9]+", "_", model_slug.lower()).strip("_")
    name = f"chunks_{slug}_{dim}"
    if not _NAME.match(name):
        raise ValueError(f"cannot derive a table name from model {model_slug!r}")
    return name


def table_for(index_name: str) -> str:
    """The SQL table PGVectorStore uses for ``index_name`` (it prefixes ``data_``); validated, so safe to interpolate."""
    if not _NAME.match(index_name):
        raise ValueError(f"invalid vector table name {index_name!r}")
    return f"data_{index_name}"


def create_vector_table_sql(index_name: str, dim: int) -> list[str]:
    """Statements creating the chunk table and its indexes (idempotent)."""
    if not _NAME.match(index_name):
        raise ValueError(f"invalid vector table name {index_name!r}")
    if not 1 <= dim <= 16000:
        raise ValueError(f"invalid embedding dimension {dim}")
    table = table_for(index_name)
    return [
        f"""
        CREATE TABLE IF NOT EXISTS {table} (
            id BIGSERIAL PRIMARY KEY,
            text VARCHAR NOT NULL,
            metadata_ JSONB NOT NULL DEFAULT '{{}}'::jsonb,
            node_id VARCHAR NOT NULL,
            embedding vector({dim}),
            text_search_tsv tsvector GENERATED ALWAYS AS (to_tsvector('{TEXT_SEARCH_CONFIG}', text)) STORED,
            document_id UUID GENERATED ALWAYS AS (
                CASE WHEN metadata_->>'ref_doc_id' ~ '^[0-9a-fA-F-]{{36}}$' THEN (metadata_->>'ref_doc_id')::uuid END
            ) STORED,
            page_number INT GENERATED ALWAYS AS (
                CASE WHEN metadata_->>'page' ~ '^[0-9]{{1,9}}$' THEN (metadata_->>'page')::int END
            ) STORED,
            page_sha256 TEXT GENERATED ALWAYS AS (metadata_->>'page_sha256') STORED
        )
        """,
        f"CREATE UNIQUE INDEX IF NOT EXISTS {index_name}_node_id_key ON {table} (node_id)",
        f"CREATE INDEX IF NOT EXISTS {index_name}_page_idx ON {table} (document_id, page_number, page_sha256)",
        f"CREATE INDEX IF NOT EXISTS {index_name}_idx_1 ON {table} ((metadata_->>'ref_doc_id'))",
        f"CREATE INDEX IF NOT EXISTS {index_name}_metadata_idx ON {table} USING gin (metadata_ jsonb_path_ops)",
        (
            f"CREATE INDEX IF NOT EXISTS {index_name}_embedding_idx ON {table} "
            f"USING hnsw (embedding vector_cosine_ops) WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION})"
        ),
    ]
