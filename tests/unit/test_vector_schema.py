from __future__ import annotations

import pytest

from app.store.migrate import _version_tuple
from app.store.vector_schema import create_vector_table_sql, index_name_for, table_for


def test_index_name_is_derived_from_model_and_dimension() -> None:
    assert index_name_for("all-MiniLM-L6-v2", 384) == "chunks_all_minilm_l6_v2_384"
    assert index_name_for("text-embedding-3-small", 1536) == "chunks_text_embedding_3_small_1536"
    assert table_for("chunks_x_8") == "data_chunks_x_8"


def test_ddl_has_hnsw_cosine_and_no_full_text_index() -> None:
    ddl = "\n".join(create_vector_table_sql("chunks_m_384", 384))
    assert "vector(384)" in ddl
    assert "USING hnsw (embedding vector_cosine_ops) WITH (m = 32, ef_construction = 64)" in ddl
    assert "USING gin (text_search_tsv)" not in ddl, "BM25 ranks from its own postings (app/store/lexical.py)"
    assert "UNIQUE INDEX" in ddl


@pytest.mark.parametrize(("name", "dim"), [("chunks; DROP TABLE x", 3), ("Chunks", 3), ("chunks_ok", 0)])
def test_ddl_rejects_unsafe_names_and_dimensions(name: str, dim: int) -> None:
    with pytest.raises(ValueError, match="invalid"):
        create_vector_table_sql(name, dim)


def test_pgvector_version_parsing() -> None:
    assert _version_tuple("0.8.5") >= (0, 5)
    assert _version_tuple("0.4.4") < (0, 5)
