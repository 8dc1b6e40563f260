"""BM25 lexical index: postings and per-document statistics of the visible chunks (app/store/lexical.py).

Built here from the active chunk table; from then on kept in step by publish, delete and restore.
The GIN index on ``text_search_tsv`` served ``ts_rank`` search, which BM25 replaces: it is dropped.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op
from sqlalchemy import text

from app.store.lexical import fill_sql
from app.store.vector_schema import table_for

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE lexical_postings (
            lexeme TEXT NOT NULL,
            chunk UUID NOT NULL,
            document_id UUID NOT NULL,
            tf INT NOT NULL,
            chunk_len INT NOT NULL,
            PRIMARY KEY (lexeme, chunk) INCLUDE (document_id, tf, chunk_len)
        )
        """
    )
    op.execute("CREATE INDEX ix_lexical_postings_document ON lexical_postings (document_id)")
    op.execute(
        """
        CREATE TABLE lexical_documents (
            document_id UUID PRIMARY KEY,
            chunks INT NOT NULL,
            terms BIGINT NOT NULL
        )
        """
    )
    conn = op.get_bind()
    for (index_name,) in conn.execute(text("SELECT index_name FROM vector_tables")).all():
        op.execute(f"DROP INDEX IF EXISTS {index_name}_idx")
    active = conn.execute(text("SELECT index_name FROM vector_tables WHERE is_active")).scalar()
    if active:
        for statement in fill_sql(table_for(active), one_document=False):
            op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE lexical_documents")
    op.execute("DROP TABLE lexical_postings")
