from __future__ import annotations

import uuid

import pytest

from app.rag.retrieval import RRF_K, best_per_page, fuse
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


def test_weights_scale_each_list_and_must_match_the_lists() -> None:
    fused = fuse([hits("a", "b"), hits("b", "a")], weights=[1.0, 2.0], top_k=None)
    assert [h.node_id for h in fused] == ["b", "a"]
    assert fused[0].score == round(1 / (RRF_K + 2) + 2 / (RRF_K + 1), 6)
    with pytest.raises(ValueError, match="one weight per ranked list"):
        fuse([hits("a")], weights=[1.0, 1.0])


def test_a_page_is_ranked_once_by_its_best_chunk() -> None:
    other = uuid.uuid4()
    chunks = [
        Hit("p1-a", "t", DOC, 1, 1, "f.pdf", 0.9),
        Hit("p1-b", "t", DOC, 1, 1, "f.pdf", 0.8),
        Hit("p2-a", "t", DOC, 1, 2, "f.pdf", 0.7),
        Hit("o1-a", "t", other, 1, 1, "g.pdf", 0.6),
        Hit("p2-b", "t", DOC, 1, 2, "f.pdf", 0.5),
    ]
    assert [h.node_id for h in best_per_page(chunks)] == ["p1-a", "p2-a", "o1-a"]
    assert [h.node_id for h in best_per_page(chunks, top_k=2)] == ["p1-a", "p2-a"]
