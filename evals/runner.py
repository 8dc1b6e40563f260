"""Runs a golden dataset through Pagewise's own ingestion and retrieval (and, with answers, the chat path).

The dataset goes into a database of its own on the configured server (embedded or DATABASE_URL),
named after the dataset and pipeline, so evals never touch user data; ingestion reuses checksums,
so a second run embeds nothing. Each question is asked the way a user of /api/v1/chat asks about
one document (``filters.document_ids``), and again over the whole corpus.

Pipelines: ``pagewise`` is the product's path (its chunking, hybrid dense + full-text RRF);
``plain`` is the plain LlamaIndex baseline it is measured against (SentenceSplitter 1024/200,
MiniLM, dense top-k only).
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.core.errors import PagewiseError
from app.core.progress import Progress
from app.embed import Embedder, create_embedder
from app.ingest.service import open_ingestor
from app.llm.base import GenerationParams
from app.llm.factory import build_router
from app.rag.retrieval import HybridRetriever, Retrieval, best_per_page
from app.rag.service import ChatRequest, ChatService
from app.settings import Settings
from app.store import db, migrate
from app.store.embedded import create_database
from app.store.search import Hit, VectorSearch
from app.store.vectors import ensure_table_for
from evals.dataset import SPLITS, Dataset, Question
from evals.metrics import (
    RetrievalScore,
    answer_in_context,
    answer_score,
    first_hit_rank,
    is_refusal,
    retrieval_summary,
)

TOP_K = 10  # retrieved per question (hit@10, MRR@10)
RETRIEVERS = ("dense", "lexical")  # each scored alone beside the fused list
ANSWER_TOP_K = 8  # passages given to the LLM, as /api/v1/chat does by default


@dataclass(frozen=True)
class Pipeline:
    name: str
    chunk_size: int | None  # None: the settings' own
    chunk_overlap: int | None
    hybrid: bool


PIPELINES = {
    "pagewise": Pipeline("pagewise", None, None, hybrid=True),
    "plain": Pipeline("plain", 1024, 200, hybrid=False),
}


@dataclass
class EvalRun:
    dataset: str
    pipeline: str
    questions: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    ingest: dict[str, int] = field(default_factory=dict)


def eval_database_url(server_url: str, dataset: str, pipeline: str) -> str:
    """A sibling database on the same server: ``pagewise_eval_<dataset>_<pipeline>``."""
    slug = re.sub(r"[^a-z0-9]+", "_", f"{dataset}_{pipeline}".lower()).strip("_")[:40]
    name = f"pagewise_eval_{slug}"
    rendered: str = db.normalise_url(server_url).set(database=name).render_as_string(hide_password=False)
    return rendered


def pipeline_settings(settings: Settings, pipeline: Pipeline) -> Settings:
    if pipeline.chunk_size is None:
        return settings
    return settings.model_copy(update={"chunk_size": pipeline.chunk_size, "chunk_overlap": pipeline.chunk_overlap})


async def _ingest(
    settings: Settings, url: str, dataset: Dataset, embedder: Embedder, show_progress: bool
) -> tuple[dict[str, uuid.UUID], dict[str, int]]:
    ids: dict[str, uuid.UUID] = {}
    totals = {"files": 0, "pages_total": 0, "pages_embedded": 0, "pages_reused": 0, "embeddings": 0}
    paths = dataset.documents()
    progress = Progress("eval ingest", len(paths), weights=[p.stat().st_size for p in paths], enabled=show_progress)
    async with open_ingestor(settings, url, embedder) as ingestor:
        for path in paths:
            result = await ingestor.ingest_bytes(
                path.read_bytes(), file_name=path.name, tags=["eval"], progress=progress.add_pages
            )
            assert result.document_id is not None
            ids[path.name] = result.document_id
            totals["files"] += 1
            for name in ("pages_total", "pages_embedded", "pages_reused", "embeddings"):
                totals[name] += int(getattr(result, name))
            progress.item_done(path.name)
    progress.close()
    return ids, totals


class _DenseOnly:
    """The plain baseline's retriever: dense top-k, nothing else."""

    def __init__(self, retriever: HybridRetriever) -> None:
        self.inner = retriever

    async def retrieve(self, question: str, *, top_k: int, document_ids: list[uuid.UUID] | None) -> Retrieval:
        embedding = await self.inner.queries.embed(question)
        hits = await self.inner.search.dense(embedding, top_k=top_k, document_ids=document_ids)
        return Retrieval(hits=hits, mode="dense")


async def run_eval(
    settings: Settings,
    dataset: Dataset,
    *,
    pipeline: str = "pagewise",
    answers: bool = False,
    progress: Callable[[str], None] | None = None,
    show_progress: bool = False,
) -> EvalRun:
    """Ingest (incrementally), retrieve for every question, optionally answer; per-question results kept."""
    chosen = PIPELINES[pipeline]
    settings = pipeline_settings(settings, chosen)
    say = progress or (lambda _msg: None)
    run = EvalRun(dataset=dataset.name, pipeline=pipeline)
    secret = settings.database_url.get_secret_value() if settings.database_url else None
    server_url = await asyncio.to_thread(db.resolve_database_url, secret, settings.data_dir)
    url = eval_database_url(server_url, dataset.name, pipeline)
    await asyncio.to_thread(create_database, server_url, db.normalise_url(url).database or "")
    await asyncio.to_thread(migrate.upgrade, url)
    embedder = create_embedder(settings)

    started = time.perf_counter()
    say(f"ingesting {len(dataset.documents())} PDFs into {db.normalise_url(url).database}")
    doc_ids, run.ingest = await _ingest(settings, url, dataset, embedder, show_progress)
    run.timings["ingest_seconds"] = round(time.perf_counter() - started, 3)

    engine = db.create_engine(url, pool_size=2, connect_timeout=settings.db_connect_timeout)
    async with engine.begin() as conn:
        table = await ensure_table_for(conn, embedder.model_id, embedder.dim)
    search = await VectorSearch.open(url, table.index_name, size=4, ef_search=settings.hnsw_ef_search)
    hybrid = HybridRetriever(
        search,
        embedder,
        dense_weight=settings.retrieval_dense_weight,
        lexical_weight=settings.retrieval_lexical_weight,
    )
    retriever: HybridRetriever | _DenseOnly = hybrid if chosen.hybrid else _DenseOnly(hybrid)
    chat = None
    if answers:
        router = build_router(settings, None)
        chat = ChatService(hybrid, router)
    try:
        say(f"retrieving for {len(dataset.questions)} questions")
        started = time.perf_counter()
        latencies: list[float] = []
        asked = Progress("eval retrieval", len(dataset.questions), unit="questions", enabled=show_progress)
        for q in dataset.questions:
            t0 = time.perf_counter()
            in_doc = await retriever.retrieve(q.question, top_k=TOP_K, document_ids=[doc_ids[q.doc_id]])
            latencies.append(time.perf_counter() - t0)
            everywhere = await retriever.retrieve(q.question, top_k=TOP_K, document_ids=None)
            run.questions.append(_question_row(q, in_doc, everywhere))
            asked.item_done()
        asked.close()
        run.timings["retrieval_seconds"] = round(time.perf_counter() - started, 3)
        latencies.sort()
        run.timings["retrieval_p50_ms"] = round(latencies[len(latencies) // 2] * 1000, 2) if latencies else 0.0
        run.metrics.update(retrieval_metrics(run.questions, dataset.splits()))
        run.metrics["questions"] = {
            "retrieval_scored": sum(1 for row in run.questions if row["scorable"]),
            "answerable": len(dataset.answerable),
            "unanswerable": len(dataset.unanswerable),
        }
        if chat is not None:
            run.metrics["answers"] = await _answer_all(chat, dataset, doc_ids, run, say, show_progress)
    finally:
        if chat is not None:
            await chat.router.aclose()
        await search.close()
        await engine.dispose()
        await embedder.aclose()
    return run


def _rank(q: Question, hits: Sequence[Hit]) -> int | None:
    return first_hit_rank([(h.file_name, h.page) for h in hits], q.doc_id, q.gold_pages) if q.answerable else None


def _question_row(q: Question, in_doc: Retrieval, everywhere: Retrieval) -> dict[str, Any]:
    """One question's results: the product's fused pages, and each retriever's own pages beside them."""
    return {
        "id": q.id,
        "doc_id": q.doc_id,
        "question": q.question,
        "answerable": q.answerable,
        "scorable": q.scorable,
        "gold_pages": list(q.gold_pages),
        "retrieved": [{"file": h.file_name, "page": h.page} for h in in_doc.hits],
        "rank": _rank(q, in_doc.hits),
        "corpus_rank": _rank(q, everywhere.hits),
        "retriever_ranks": {
            name: {
                "rank": _rank(q, best_per_page(getattr(in_doc, name), TOP_K)),
                "corpus_rank": _rank(q, best_per_page(getattr(everywhere, name), TOP_K)),
            }
            for name in RETRIEVERS
            if getattr(in_doc, name)
        },
        "answer_in_context@5": (
            answer_in_context([h.text for h in in_doc.hits[:5]], q.answer or "", q.answer_format)
            if q.answerable and q.answer is not None
            else None
        ),
    }


def _summaries(rows: Sequence[dict[str, Any]], pick: Callable[[dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
    scored = [row for row in rows if row["scorable"]]
    return {
        "retrieval": retrieval_summary(
            [RetrievalScore(p["rank"], p["answer_in_context@5"]) for p in map(pick, scored)]
        ),
        "retrieval_corpus": retrieval_summary([RetrievalScore(p["corpus_rank"], None) for p in map(pick, scored)]),
    }


def retrieval_metrics(rows: Sequence[dict[str, Any]], splits: dict[str, str]) -> dict[str, Any]:
    """The product's metrics over every scorable question and per dev/test half, and each retriever's alone."""

    def fused(row: dict[str, Any]) -> dict[str, Any]:
        return row

    metrics: dict[str, Any] = _summaries(rows, fused)
    metrics["splits"] = {
        half: _summaries([r for r in rows if splits.get(r["doc_id"]) == half], fused) for half in SPLITS
    }
    retrievers = {}
    for name in RETRIEVERS:
        have = [r for r in rows if name in r["retriever_ranks"]]
        if not have:
            continue

        def alone(row: dict[str, Any], name: str = name) -> dict[str, Any]:
            return {**row["retriever_ranks"][name], "answer_in_context@5": None}

        per_half = {half: _summaries([r for r in have if splits.get(r["doc_id"]) == half], alone) for half in SPLITS}
        retrievers[name] = {**_summaries(have, alone), "splits": per_half}
    metrics["retrievers"] = retrievers
    return metrics


async def _answer_all(
    chat: ChatService,
    dataset: Dataset,
    doc_ids: dict[str, uuid.UUID],
    run: EvalRun,
    say: Callable[[str], None],
    show_progress: bool,
) -> dict[str, Any]:
    say(f"answering {len(dataset.questions)} questions through the LLM chain")
    rows = {row["id"]: row for row in run.questions}
    scores: list[float] = []
    refusals: list[bool] = []
    false_refusals: list[bool] = []
    modes: dict[str, int] = {}
    started = time.perf_counter()
    answered = Progress("eval answers", len(dataset.questions), unit="questions", enabled=show_progress)
    for q in dataset.questions:
        request = ChatRequest(
            q.question,
            top_k=ANSWER_TOP_K,
            document_ids=[doc_ids[q.doc_id]],
            params=GenerationParams(temperature=0.0, max_tokens=256),
        )
        try:
            result = await chat.answer(request)
        except PagewiseError as exc:
            rows[q.id]["answer_error"] = f"{exc.code}: {exc.message}"
            if q.answerable:
                scores.append(0.0)
            else:
                refusals.append(False)
            answered.item_done()
            continue
        text = result.answer
        row = rows[q.id]
        row.update(prediction=text, provider=result.final.provider, mode=result.final.mode)
        modes[result.final.mode] = modes.get(result.final.mode, 0) + 1
        if q.answerable:
            row["answer_score"] = answer_score(text, q.answer or "", q.answer_format)
            scores.append(row["answer_score"])
            false_refusals.append(is_refusal(text))
        else:
            row["refused"] = is_refusal(text)
            refusals.append(row["refused"])
        answered.item_done()
    answered.close()
    run.timings["answer_seconds"] = round(time.perf_counter() - started, 3)
    return {
        "accuracy": round(sum(scores) / len(scores), 4) if scores else None,
        "refusal_rate_unanswerable": round(sum(refusals) / len(refusals), 4) if refusals else None,
        "false_refusal_rate": round(sum(false_refusals) / len(false_refusals), 4) if false_refusals else None,
        "modes": modes,
    }
