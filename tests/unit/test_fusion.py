from __future__ import annotations

import uuid

from app.rag.retrieval import RRF_K, fuse
from app.store.search import Hit

DOC = uuid.uuid4()


def hits(*ids: str) -> list[Hit]:
    return [Hit(i, f"text {i}", DOC, 1, 1, "f.pdf", 0.0) for i in ids]


def test_rrf_rewards_agreement_between_lists() -> None:
    fused = fuse([hits("a", "b", "c"), hits("c", "d", "a")], top_k=4)
    assert [h.node_id for h in fused] == ["a", "c", "b", "d"]
    assert fused[0].score == round(1 / (RRF_K + 1) + 1 / (RRF_K + 3), 6)


def test_single_list_keeps_its_order_and_top_k_cuts() -> None:
    assert [h.node_id for h in fuse([hits("x", "y", "z")], top_k=2)] == ["x", "y"]
    assert fuse([], top_k=3) == []
