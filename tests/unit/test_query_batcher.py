from __future__ import annotations

import asyncio

import pytest

from app.embed.batcher import QueryBatcher
from tests.helpers.embedders import hash_embedder


async def test_concurrent_questions_share_model_calls_and_get_their_own_vectors() -> None:
    embedder, model = hash_embedder()
    batcher = QueryBatcher(embedder)
    questions = [f"question {i}" for i in range(20)]
    vectors = await asyncio.gather(*(batcher.embed(q) for q in questions))
    assert vectors == [model.get_query_embedding(q) for q in questions]
    assert model.calls <= 2, "all questions waiting together are embedded in one call"
    single = await batcher.embed("alone")
    assert single == model.get_query_embedding("alone")


async def test_a_failure_reaches_every_waiting_question() -> None:
    embedder, model = hash_embedder()
    model.fail_after(0)
    batcher = QueryBatcher(embedder)
    results = await asyncio.gather(*(batcher.embed(f"q{i}") for i in range(3)), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    with pytest.raises(RuntimeError):
        await batcher.embed("again")
