"""Initial schema: pgvector, files, documents, versions, pages, vector table registry, MiniLM chunks.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from app.store.vector_schema import create_vector_table_sql, index_name_for, table_for

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFAULT_MODEL = "all-MiniLM-L6-v2"
DEFAULT_DIM = 384


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS vector")

    op.create_table(
        "files",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("content_type", sa.Text, nullable=False, server_default="application/pdf"),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "documents",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True, server_default=sa.text("gen_random_uuid()")),
        sa.Column("title", sa.Text),
        sa.Column("author", sa.Text),
        sa.Column("file_name", sa.Text, nullable=False),
        sa.Column("tags", postgresql.ARRAY(sa.Text), nullable=False, server_default=sa.text("'{}'::text[]")),
        sa.Column("current_version", sa.Integer),
        sa.Column("latest_version", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("deleted_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_documents_tags", "documents", ["tags"], postgresql_using="gin")
    op.create_index("ix_documents_live", "documents", ["id"], postgresql_where=sa.text("deleted_at IS NULL"))

    op.create_table(
        "document_versions",
        sa.Column(
            "document_id",
            postgresql.UUID(as_uuid=True),
            sa.ForeignKey("documents.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("file_sha256", sa.String(64), sa.ForeignKey("files.sha256"), nullable=False),
        sa.Column("file_name", sa.Text, nullable=False),
        sa.Column("file_size", sa.BigInteger, nullable=False),
        sa.Column("page_count", sa.Integer),
        sa.Column("status", sa.Text, nullable=False, server_default="pending"),
        sa.Column("error", sa.Text),
        sa.Column("embed_model", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("completed_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("version >= 1", name="ck_document_versions_version_positive"),
        sa.CheckConstraint(
            "status IN ('pending', 'ingesting', 'ready', 'failed')", name="ck_document_versions_status_known"
        ),
    )
    op.create_index("ix_document_versions_file_sha256", "document_versions", ["file_sha256"])

    op.create_table(
        "document_pages",
        sa.Column("document_id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("page_number", sa.Integer, primary_key=True),
        sa.Column("text_sha256", sa.String(64), nullable=False),
        sa.Column("char_count", sa.Integer, nullable=False),
        sa.Column("chunk_count", sa.Integer, nullable=False, server_default="0"),
        sa.ForeignKeyConstraint(
            ["document_id", "version"],
            ["document_versions.document_id", "document_versions.version"],
            ondelete="CASCADE",
            name="fk_document_pages_version",
        ),
        sa.CheckConstraint("page_number >= 1", name="ck_document_pages_page_positive"),
    )

    op.create_table(
        "vector_tables",
        sa.Column("index_name", sa.Text, primary_key=True),
        sa.Column("embed_model", sa.Text, nullable=False),
        sa.Column("dim", sa.Integer, nullable=False),
        sa.Column("is_active", sa.Boolean, nullable=False, server_default="false"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index(
        "uq_vector_tables_one_active",
        "vector_tables",
        ["is_active"],
        unique=True,
        postgresql_where=sa.text("is_active"),
    )

    index_name = index_name_for(DEFAULT_MODEL, DEFAULT_DIM)
    for statement in create_vector_table_sql(index_name, DEFAULT_DIM):
        op.execute(statement)
    op.execute(
        sa.text(
            "INSERT INTO vector_tables (index_name, embed_model, dim, is_active) VALUES (:n, :m, :d, true)"
        ).bindparams(n=index_name, m=DEFAULT_MODEL, d=DEFAULT_DIM)
    )


def downgrade() -> None:
    op.execute(f"DROP TABLE IF EXISTS {table_for(index_name_for(DEFAULT_MODEL, DEFAULT_DIM))}")
    op.drop_table("vector_tables")
    op.drop_table("document_pages")
    op.drop_table("document_versions")
    op.drop_table("documents")
    op.drop_table("files")
