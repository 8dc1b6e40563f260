"""Our own tables (SQLAlchemy Core), created by Alembic; chunk tables live in vector_schema.

A document has versions; each version keeps its original file (deduplicated by SHA-256 in
``files``) and one row per page with the page's text checksum, which is what lets a new
version re-embed only the pages that changed. ``documents.current_version`` is the version
readers see: switching it is the atomic swap of an ingest.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

VERSION_STATUSES = ("pending", "ingesting", "ready", "failed")

files = Table(
    "files",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("content_type", Text, nullable=False, server_default="application/pdf"),
    Column("data", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

documents = Table(
    "documents",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")),
    Column("title", Text),
    Column("author", Text),
    Column("file_name", Text, nullable=False),
    Column("tags", ARRAY(Text), nullable=False, server_default=text("'{}'::text[]")),
    Column("current_version", Integer),
    Column("latest_version", Integer, nullable=False, server_default="0"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("deleted_at", DateTime(timezone=True)),
    Index("ix_documents_tags", "tags", postgresql_using="gin"),
    Index("ix_documents_live", "id", postgresql_where=text("deleted_at IS NULL")),
)

document_versions = Table(
    "document_versions",
    metadata,
    Column("document_id", UUID(as_uuid=True), ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("file_sha256", String(64), ForeignKey("files.sha256"), nullable=False),
    Column("file_name", Text, nullable=False),
    Column("file_size", BigInteger, nullable=False),
    Column("page_count", Integer),
    Column("status", Text, nullable=False, server_default="pending"),
    Column("error", Text),
    Column("embed_model", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("completed_at", DateTime(timezone=True)),
    CheckConstraint("version >= 1", name="version_positive"),
    CheckConstraint(f"status IN {VERSION_STATUSES!r}", name="status_known"),
    Index("ix_document_versions_file_sha256", "file_sha256"),
)

document_pages = Table(
    "document_pages",
    metadata,
    Column("document_id", UUID(as_uuid=True), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("page_number", Integer, primary_key=True),
    Column("text_sha256", String(64), nullable=False),
    Column("char_count", Integer, nullable=False),
    Column("chunk_count", Integer, nullable=False, server_default="0"),
    ForeignKeyConstraint(
        ["document_id", "version"],
        ["document_versions.document_id", "document_versions.version"],
        ondelete="CASCADE",
        name="fk_document_pages_version",
    ),
    CheckConstraint("page_number >= 1", name="page_positive"),
)

vector_tables = Table(
    "vector_tables",
    metadata,
    Column("index_name", Text, primary_key=True),
    Column("embed_model", Text, nullable=False),
    Column("dim", Integer, nullable=False),
    Column("is_active", Boolean, nullable=False, server_default="false"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("uq_vector_tables_one_active", "is_active", unique=True, postgresql_where=text("is_active")),
)

JOB_STATUSES = ("queued", "running", "succeeded", "failed")

ingest_jobs = Table(
    "ingest_jobs",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")),
    Column("document_id", UUID(as_uuid=True), nullable=False),
    Column("version", Integer, nullable=False),
    Column("status", Text, nullable=False, server_default="queued"),
    Column("pages_done", Integer, nullable=False, server_default="0"),
    Column("pages_total", Integer, nullable=False, server_default="0"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("error_code", Text),
    Column("error", Text),
    Column("result", JSONB),
    Column("created_by", UUID(as_uuid=True)),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("started_at", DateTime(timezone=True)),
    Column("heartbeat_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
    ForeignKeyConstraint(
        ["document_id", "version"],
        ["document_versions.document_id", "document_versions.version"],
        ondelete="CASCADE",
        name="fk_ingest_jobs_version",
    ),
    CheckConstraint(f"status IN {JOB_STATUSES!r}", name="status_known"),
    Index("ix_ingest_jobs_queued", "created_at", postgresql_where=text("status = 'queued'")),
    Index("ix_ingest_jobs_document_id", "document_id"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")),
    Column("name", Text, nullable=False),
    Column("prefix", Text, nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("scopes", ARRAY(Text), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("revoked_at", DateTime(timezone=True)),
)
