"""Ingestion on the embedded PostgreSQL with real PDFs: incremental upserts, atomic swaps, crash safety."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from app.core.errors import ConfigError, InvalidInput
from app.embed.base import Embedder
from app.ingest.chunking import chunk_page
from app.ingest.pipeline import Ingestor
from app.ingest.sandbox import parse_pdf
from app.ingest.service import open_ingestor
from app.settings import Settings
from app.store.chunks import VISIBLE_SUBQUERY
from app.store.search import Hit, VectorSearch
from app.store.vector_schema import table_for
from tests.helpers.embedders import HashEmbedding, hash_embedder
from tests.helpers.pdfs import SMALL_PDF, edit_pdf, make_pdf

TABLE = table_for("chunks_all_minilm_l6_v2_384")


async def _rows(ingestor: Ingestor, document_id: uuid.UUID) -> dict[str, tuple[int, int, str]]:
    """node_id -> (row id, page, text) of every stored chunk of a document (visible or not)."""
    async with ingestor.engine.connect() as conn:
        rows = await conn.execute(
            text(f"SELECT node_id, id, page_number, text FROM {TABLE} WHERE document_id = :d"), {"d": document_id}
        )
        return {r[0]: (r[1], r[2], r[3]) for r in rows}


async def _search(database_url: str, index_name: str, embedding: list[float], top_k: int) -> list[Hit]:
    search = await VectorSearch.open(database_url, index_name)
    try:
        return await search.dense(embedding, top_k=top_k)
    finally:
        await search.close()


async def _visible(ingestor: Ingestor, document_id: uuid.UUID) -> list[tuple[int, int, str]]:
    """(version, page, text) of the chunks retrieval may return for a document."""
    async with ingestor.engine.connect() as conn:
        rows = await conn.execute(
            text(
                f"SELECT d.current_version, c.page_number, c.text FROM {TABLE} c JOIN documents d ON d.id = c.document_id"
                f" WHERE ({VISIBLE_SUBQUERY}) AND c.document_id = :d ORDER BY c.page_number, (c.metadata_->>'chunk')::int"
            ),
            {"d": document_id},
        )
        return [(r[0], r[1], r[2]) for r in rows]


@pytest.fixture
async def make_ingestor(make_settings: Callable[..., Settings], database_url: str) -> AsyncIterator[Callable[..., Any]]:
    opened: list[Any] = []

    async def factory(embedder: Embedder, **overrides: Any) -> Ingestor:
        context = open_ingestor(make_settings(**overrides), database_url, embedder=embedder)
        opened.append(context)
        return await context.__aenter__()

    yield factory
    for context in reversed(opened):
        await context.__aexit__(None, None, None)


async def test_real_pdf_gets_chunks_with_full_metadata_and_reingest_writes_nothing(
    make_ingestor: Callable[..., Any], minilm: Embedder, database_url: str
) -> None:
    ingestor = await make_ingestor(minilm)
    data = SMALL_PDF.read_bytes()
    first = await ingestor.ingest_bytes(data, file_name=SMALL_PDF.name, tags=["golden", "ci"])
    assert first.status == "ingested"
    assert first.version == 1
    assert first.pages_embedded == first.pages_total == len(parse_pdf(data).pages)
    assert first.chunks_written == first.embeddings > 0

    async with ingestor.engine.connect() as conn:
        metas = (
            (
                await conn.execute(
                    text(f"SELECT metadata_ FROM {TABLE} WHERE document_id = :d"), {"d": first.document_id}
                )
            )
            .scalars()
            .all()
        )
    assert len(metas) == first.chunks_written
    for meta in metas:
        assert meta["document_id"] == str(first.document_id)
        assert meta["version"] == 1
        assert 1 <= meta["page"] <= 17
        assert meta["file_name"] == SMALL_PDF.name
        assert meta["tags"] == ["golden", "ci"]

    before = await _rows(ingestor, first.document_id)
    again = await ingestor.ingest_bytes(data, file_name=SMALL_PDF.name)
    assert again.status == "unchanged"
    assert (again.embeddings, again.chunks_written, again.pages_embedded) == (0, 0, 0)
    assert await _rows(ingestor, first.document_id) == before
    async with ingestor.engine.connect() as conn:
        versions = (await conn.execute(text("SELECT count(*) FROM document_versions"))).scalar()
    assert versions == 1, "an unchanged file creates no version"

    # a query embedded by the same model finds the page it came from, with version and page cited
    page = parse_pdf(data).pages[4]
    query = page.text[:300]
    hits = await _search(database_url, ingestor.table.index_name, minilm.model.get_query_embedding(query), 3)
    assert hits[0].page == page.number
    assert (hits[0].document_id, hits[0].version, hits[0].file_name) == (first.document_id, 1, SMALL_PDF.name)


async def test_editing_one_page_reembeds_only_that_page(make_ingestor: Callable[..., Any], minilm: Embedder) -> None:
    ingestor = await make_ingestor(minilm)
    data = SMALL_PDF.read_bytes()
    first = await ingestor.ingest_bytes(data, file_name="report.pdf")
    before = await _rows(ingestor, first.document_id)

    edited = edit_pdf(data, replace={3: "Zorblax quarterly revenue rose to 42 million widgets in the edited page."})
    second = await ingestor.ingest_bytes(edited, file_name="report.pdf")
    assert (second.status, second.version) == ("ingested", 2)
    assert second.pages_embedded == 1
    assert second.pages_reused == second.pages_total - 1
    assert second.embeddings == second.chunks_written
    after = await _rows(ingestor, first.document_id)

    unchanged = {nid: row for nid, row in before.items() if row[1] != 3}
    assert {nid: after[nid] for nid in unchanged} == unchanged, "other pages keep their rows (same ids, not rewritten)"
    assert all(row[1] == 3 for nid, row in after.items() if nid not in before), "only page 3 has new chunks"
    assert all(nid not in after for nid, row in before.items() if row[1] == 3), "the old page 3 chunks are gone"
    assert second.chunks_deleted == sum(1 for row in before.values() if row[1] == 3)

    visible = await _visible(ingestor, first.document_id)
    assert {v for v, _, _ in visible} == {2}
    assert any("Zorblax" in t for _, p, t in visible if p == 3)


async def test_crash_half_way_keeps_the_old_version_and_a_rerun_completes(make_ingestor: Callable[..., Any]) -> None:
    embedder, model = hash_embedder()
    ingestor = await make_ingestor(embedder, embed_batch_size=1)  # writes of 4 chunks: several per file
    pages_v1 = [f"Version one page {i}. " + "Filler sentence about budgets. " * 20 for i in range(1, 13)]
    v1 = await ingestor.ingest_bytes(make_pdf(pages_v1), file_name="plan.pdf")
    visible_v1 = await _visible(ingestor, v1.document_id)

    pages_v2 = [p.replace("Version one", "Version two") for p in pages_v1]
    model.fail_after(model.calls + 2)
    with pytest.raises(RuntimeError, match="injected crash"):
        await ingestor.ingest_bytes(make_pdf(pages_v2), file_name="plan.pdf")
    assert await _visible(ingestor, v1.document_id) == visible_v1, "readers still get exactly version 1"
    async with ingestor.engine.connect() as conn:
        status = (await conn.execute(text("SELECT status, error FROM document_versions WHERE version = 2"))).one()
    assert status[0] == "failed"
    assert "injected crash" in status[1]

    model.fail_after(None)
    embedded_before = model.texts_embedded
    rerun = await ingestor.ingest_bytes(make_pdf(pages_v2), file_name="plan.pdf")
    assert rerun.version == 2, "the re-run completes the same version"
    assert 0 < rerun.pages_embedded < 12, "pages written before the crash are not embedded again"
    assert model.texts_embedded - embedded_before == rerun.embeddings
    visible = await _visible(ingestor, v1.document_id)
    assert {v for v, _, _ in visible} == {2}
    assert all("Version two" in t for _, p, t in visible if "Version" in t)
    assert len(await _rows(ingestor, v1.document_id)) == len(visible), "no orphan chunks are left"


async def test_removed_pages_lose_their_chunks_and_identical_pages_stay_distinct(
    make_ingestor: Callable[..., Any],
) -> None:
    embedder, _ = hash_embedder()
    ingestor = await make_ingestor(embedder)
    boiler = "Confidential. Internal use only."
    v1 = await ingestor.ingest_bytes(
        make_pdf(["Intro text.", boiler, "Body text.", boiler, "Closing."]), file_name="b.pdf"
    )
    assert v1.pages_embedded == 4, "the boilerplate text is embedded once"
    assert v1.pages_reused == 1
    pages = sorted(p for _, p, _ in await _visible(ingestor, v1.document_id))
    assert pages == [1, 2, 3, 4, 5], "identical pages keep their own chunks and page numbers"

    v2 = await ingestor.ingest_bytes(make_pdf(["Intro text.", boiler, "Body text."]), file_name="b.pdf")
    assert (v2.pages_deleted, v2.pages_embedded) == (2, 0)
    assert sorted(p for _, p, _ in await _visible(ingestor, v1.document_id)) == [1, 2, 3]
    assert len(await _rows(ingestor, v1.document_id)) == 3


async def test_unreadable_files_are_refused_before_anything_is_written(make_ingestor: Callable[..., Any]) -> None:
    embedder, _ = hash_embedder()
    ingestor = await make_ingestor(embedder)
    cases = {
        "not_a_pdf": b"GIF89a not a pdf",
        "pdf_corrupt": make_pdf(["x"])[:300],
        "pdf_encrypted": make_pdf(["secret"], encrypt_with_password=True),
        "pdf_no_text": make_pdf(["", ""]),
    }
    for code, data in cases.items():
        with pytest.raises(InvalidInput) as info:
            await ingestor.ingest_bytes(data, file_name=f"{code}.pdf")
        assert info.value.code == code
    async with ingestor.engine.connect() as conn:
        counts = (
            await conn.execute(text("SELECT (SELECT count(*) FROM documents), (SELECT count(*) FROM files)"))
        ).one()
    assert tuple(counts) == (0, 0)


async def test_another_embedding_model_is_refused_until_reindex(
    make_ingestor: Callable[..., Any], database_url: str
) -> None:
    embedder, _ = hash_embedder()
    ingestor = await make_ingestor(embedder)
    result = await ingestor.ingest_bytes(make_pdf(["Alpha page.", "Beta page."]), file_name="m.pdf")
    other, _ = hash_embedder("openai:text-embedding-3-small")
    with pytest.raises(ConfigError) as info:
        await make_ingestor(other)
    assert info.value.code == "embedding_model_mismatch"
    assert "python -m app reindex" in info.value.message

    from app.ingest.reindex import reindex

    report = await reindex(ingestor.engine, other)
    assert report == {
        "from": "chunks_all_minilm_l6_v2_384",
        "to": "chunks_openai_text_embedding_3_small_384",
        "chunks": 2,
    }
    switched = await make_ingestor(other)
    assert switched.table.index_name == "chunks_openai_text_embedding_3_small_384"
    hits = await _search(database_url, switched.table.index_name, other.model.get_query_embedding("Alpha page."), 2)
    assert {h.page for h in hits} == {1, 2}
    assert hits[0].document_id == result.document_id


_edit = st.one_of(
    st.tuples(st.just("edit"), st.integers(0, 20), st.text("abcdefghij ", min_size=1, max_size=30)),
    st.tuples(st.just("insert"), st.integers(0, 20), st.text("klmnopqrst ", min_size=1, max_size=30)),
    st.tuples(st.just("delete"), st.integers(0, 20), st.just("")),
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(st.text("uvwxyz ", min_size=1, max_size=40), min_size=1, max_size=6),
    st.lists(st.lists(_edit, max_size=4), min_size=1, max_size=4),
)
async def test_any_sequence_of_page_edits_leaves_exactly_the_last_versions_chunks(
    make_ingestor: Callable[..., Any], initial: list[str], versions: list[list[tuple[str, int, str]]]
) -> None:
    embedder, _ = hash_embedder()
    ingestor = await make_ingestor(embedder)
    name = f"{uuid.uuid4().hex}.pdf"
    pages = [f"Page {t}" for t in initial]
    result = await ingestor.ingest_bytes(make_pdf(pages), file_name=name)
    for edits in [[], *versions]:
        for op, pos, value in edits:
            if op == "edit" and pages:
                pages[pos % len(pages)] = f"Edited {value}"
            elif op == "insert":
                pages.insert(pos % (len(pages) + 1), f"New {value}")
            elif op == "delete" and len(pages) > 1:
                pages.pop(pos % len(pages))
        result = await ingestor.ingest_bytes(make_pdf(pages), file_name=name)
        expected = [
            (page.number, chunk.text)
            for page in parse_pdf(make_pdf(pages)).pages
            for chunk in chunk_page(
                result.document_id, page.number, page.sha256, page.text, chunk_size=256, chunk_overlap=32
            )
        ]
        visible = [(p, t) for _, p, t in await _visible(ingestor, result.document_id)]
        assert sorted(visible) == sorted(expected)
        assert len(await _rows(ingestor, result.document_id)) == len(expected), "no stale chunks remain"


def test_hash_embedder_is_deterministic() -> None:
    model = HashEmbedding(model_name="hash")
    assert model.get_text_embedding("a") == model.get_text_embedding("a")
    assert model.get_text_embedding("a") != model.get_text_embedding("b")
