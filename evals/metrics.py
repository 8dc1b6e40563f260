"""Scores that need no LLM judge: page-level retrieval hits, answer-in-context, answer matching, refusals.

Retrieval: a retrieved chunk is a hit when it comes from the question's document and one of its
gold pages; hit@k is whether any of the first k is, MRR@10 the mean of 1/rank of the first hit.
Answer-in-context@k: the normalised gold answer (every item, for lists) occurs, on word
boundaries, in the text of the first k chunks. Answers: normalised match for Str (exact, or the
gold phrase inside the answer, since models answer in sentences), numeric tolerance for Int/Float,
item overlap for List; an unanswerable question is right when the answer refuses.
"""

from __future__ import annotations

import ast
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from statistics import mean

KS = (1, 3, 5, 10)
REL_TOLERANCE = 0.01  # 1 %: "18.3" matches "18.29%"

_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_REFUSALS = re.compile(
    r"do(?:es)? not (?:contain|mention|provide|include|say|state|specify|answer)|not answerable|cannot be answered"
    r"|can ?not answer|unable to (?:answer|find|determine)|no (?:information|mention|passage)|not (?:stated|mentioned|provided)",
    re.IGNORECASE,
)


def normalise(text: str) -> str:
    """Lower case, NFKC, thousands separators dropped, punctuation to spaces (keeping . and % inside numbers)."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)
    text = re.sub(r"(?<!\d)\.|\.(?!\d)", " ", text)
    text = re.sub(r"[^a-z0-9.%]+", " ", text)
    return " ".join(text.split())


def contains(haystack: str, needle: str) -> bool:
    """Whether normalised ``needle`` occurs in normalised ``haystack`` on word boundaries."""
    n = normalise(needle)
    return bool(n) and f" {n} " in f" {normalise(haystack)} "


def answer_items(answer: str, answer_format: str) -> list[str]:
    """The gold answer as items: a List answer is a Python-literal list in a string."""
    if answer_format == "List":
        try:
            value = ast.literal_eval(answer)
        except (ValueError, SyntaxError):
            value = [answer]
        items = value if isinstance(value, list | tuple) else [value]
        return [str(item).strip() for item in items if str(item).strip()]
    return [answer.strip()]


def first_hit_rank(retrieved: Sequence[tuple[str, int]], doc_id: str, gold_pages: Iterable[int]) -> int | None:
    """1-based rank of the first (file name, page) from the question's document and a gold page."""
    gold = set(gold_pages)
    for rank, (file_name, page) in enumerate(retrieved, start=1):
        if file_name == doc_id and page in gold:
            return rank
    return None


def answer_in_context(passages: Sequence[str], answer: str, answer_format: str) -> bool:
    context = "\n".join(passages)
    return all(contains(context, item) for item in answer_items(answer, answer_format))


def _numbers(text: str) -> list[float]:
    return [float(n) for n in _NUMBER.findall(normalise(text))]


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= max(1e-9, REL_TOLERANCE * abs(b))


def answer_score(prediction: str, answer: str, answer_format: str) -> float:
    """1.0 right, 0.0 wrong; for List the fraction of gold items the prediction names."""
    if answer_format in ("Int", "Float"):
        gold = _numbers(answer)
        if not gold:
            return float(contains(prediction, answer))
        found = _numbers(prediction)
        return float(any(_close(value, gold[0]) for value in found))
    if answer_format == "List":
        items = answer_items(answer, answer_format)
        return sum(contains(prediction, item) for item in items) / len(items) if items else 0.0
    gold_text = normalise(answer)
    return float(normalise(prediction) == gold_text or contains(prediction, answer))


def is_refusal(prediction: str) -> bool:
    return bool(_REFUSALS.search(prediction))


@dataclass(frozen=True)
class RetrievalScore:
    rank: int | None  # of the first gold-page chunk within the retrieved list
    answer_in_context_5: bool | None  # None: the question has no gold answer text

    def hit(self, k: int) -> bool:
        return self.rank is not None and self.rank <= k

    @property
    def reciprocal_rank_10(self) -> float:
        return 1.0 / self.rank if self.rank is not None and self.rank <= 10 else 0.0


def retrieval_summary(scores: Sequence[RetrievalScore]) -> dict[str, float]:
    """hit@1/3/5/10, mrr@10, answer_in_context@5 over answerable questions, rounded to 4 places."""
    if not scores:
        return {}
    summary = {f"hit@{k}": mean(float(s.hit(k)) for s in scores) for k in KS}
    summary["mrr@10"] = mean(s.reciprocal_rank_10 for s in scores)
    with_answer = [float(s.answer_in_context_5) for s in scores if s.answer_in_context_5 is not None]
    if with_answer:
        summary["answer_in_context@5"] = mean(with_answer)
    return {name: round(value, 4) for name, value in summary.items()}
