"""Eval scoring: normalisation, page hits, answer-in-context, answer matching per format, refusals."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evals.metrics import (
    RetrievalScore,
    answer_in_context,
    answer_score,
    contains,
    first_hit_rank,
    is_refusal,
    normalise,
    retrieval_summary,
)


def test_normalise_keeps_numbers_and_drops_punctuation() -> None:
    assert normalise("Revenue: $1,234.5 (18.29%)!") == "revenue 1234.5 18.29%"
    assert normalise("The END.") == "the end"
    assert normalise("ＡＢＣ") == "abc"


def test_contains_is_on_word_boundaries() -> None:
    assert contains("the total is 19 items", "19")
    assert not contains("the total is 190 items", "19")
    assert not contains("", "x")
    assert not contains("anything", "")


def test_first_hit_rank_needs_the_document_and_a_gold_page() -> None:
    retrieved = [("a.pdf", 3), ("b.pdf", 5), ("b.pdf", 2), ("b.pdf", 5)]
    assert first_hit_rank(retrieved, "b.pdf", [5]) == 2
    assert first_hit_rank(retrieved, "b.pdf", [2, 9]) == 3
    assert first_hit_rank(retrieved, "a.pdf", [5]) is None


def test_retrieval_summary_hits_and_mrr() -> None:
    scores = [RetrievalScore(1, True), RetrievalScore(4, False), RetrievalScore(None, False), RetrievalScore(11, True)]
    summary = retrieval_summary(scores)
    assert summary["hit@1"] == 0.25
    assert summary["hit@3"] == 0.25
    assert summary["hit@5"] == 0.5
    assert summary["hit@10"] == 0.5
    assert summary["mrr@10"] == round((1 + 0.25) / 4, 4)
    assert summary["answer_in_context@5"] == 0.5
    assert retrieval_summary([]) == {}


@given(st.lists(st.one_of(st.none(), st.integers(1, 20)), min_size=1, max_size=30))
def test_hit_at_k_grows_with_k_and_mrr_is_bounded(ranks: list[int | None]) -> None:
    summary = retrieval_summary([RetrievalScore(r, False) for r in ranks])
    assert summary["hit@1"] <= summary["hit@3"] <= summary["hit@5"] <= summary["hit@10"] <= 1
    assert summary["hit@1"] <= summary["mrr@10"] <= summary["hit@10"]


def test_answer_in_context_needs_every_list_item() -> None:
    passages = ["POPQA and SST-2 are used.", "We also evaluate on MS MARCO."]
    assert answer_in_context(passages, "['POPQA', 'MS MARCO', 'SST-2']", "List")
    assert not answer_in_context(passages, "['POPQA', 'TriviaQA']", "List")
    assert answer_in_context(["Share was 18.29% in 2018"], "18.29%", "Float")


@pytest.mark.parametrize(
    ("prediction", "answer", "fmt", "score"),
    [
        ("The court is the SUPERIOR COURT [1].", "SUPERIOR COURT", "Str", 1.0),
        ("It is the district court.", "SUPERIOR COURT", "Str", 0.0),
        ("There are 27 exhibits [2].", "27", "Int", 1.0),
        ("There are 270 exhibits.", "27", "Int", 0.0),
        ("About 18.3% of them [1].", "18.29%", "Float", 1.0),
        ("About 19% of them.", "18.29%", "Float", 0.0),
        ("Page 1 only.", "['Page 1', 'Page 5']", "List", 0.5),
        ("Pages: Page 5 and Page 1.", "['Page 1', 'Page 5']", "List", 1.0),
        ("1,234 units", "1234", "Int", 1.0),
    ],
)
def test_answer_score_per_format(prediction: str, answer: str, fmt: str, score: float) -> None:
    assert answer_score(prediction, answer, fmt) == score


def test_refusals_are_recognised() -> None:
    assert is_refusal("The documents do not contain the answer to this question.")
    assert is_refusal("I cannot answer that from the passages.")
    assert not is_refusal("The telephone number is 01983 873655 [1].")
