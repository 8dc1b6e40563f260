"""The answer when no LLM can give one: the best passages, quoted, each with its citation.

Never a bare apology: the user still gets what the documents say, flagged ``extractive``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from app.store.search import Hit

_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'%.-]*")
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n{2,}")
_STOP = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "did",
        "do",
        "does",
        "for",
        "from",
        "had",
        "has",
        "have",
        "how",
        "i",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "that",
        "the",
        "their",
        "this",
        "to",
        "was",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "you",
        "your",
    ]
)


@dataclass(frozen=True)
class Citation:
    document_id: str
    version: int
    file_name: str
    page: int
    passage: str
    score: float


@dataclass
class Answer:
    text: str
    mode: str  # "generated" | "extractive"
    citations: list[Citation] = field(default_factory=list)
    provider: str | None = None
    model: str | None = None


def _terms(text: str) -> set[str]:
    return {w.lower().strip(".") for w in _WORD.findall(text)} - _STOP


def best_sentences(question: str, passage: str, max_chars: int) -> str:
    """The passage's sentences that share most terms with the question, in their original order."""
    sentences = [s.strip() for s in _SENTENCE.split(passage) if s.strip()]
    if not sentences:
        return ""
    wanted = _terms(question)
    overlap = [len(_terms(s) & wanted) for s in sentences]
    # sentences that share a term with the question, best first; none do: the passage's opening
    ranked = sorted((i for i in range(len(sentences)) if overlap[i]), key=lambda i: (-overlap[i], i)) or list(
        range(len(sentences))
    )
    chosen: list[int] = []
    size = 0
    for i in ranked:
        if chosen and size + len(sentences[i]) > max_chars:
            break
        chosen.append(i)
        size += len(sentences[i]) + 1
    text = " ".join(sentences[i] for i in sorted(chosen))
    return text if len(text) <= max_chars else text[: max_chars - 1].rstrip() + "…"


def extractive_answer(question: str, hits: Sequence[Hit], *, max_passages: int = 3, max_chars: int = 500) -> Answer:
    """Quote the most relevant sentences of the top passages, each cited by document, version and page."""
    if not hits:
        return Answer(
            text="No language model is available right now, and no passage of your documents matches this question.",
            mode="extractive",
        )
    citations = []
    parts = []
    for hit in list(hits)[:max_passages]:
        quote = best_sentences(question, hit.text, max_chars)
        citations.append(Citation(str(hit.document_id), hit.version, hit.file_name, hit.page, quote, hit.score))
        parts.append(f'"{quote}" ({hit.file_name}, page {hit.page})')
    text = (
        "No language model is available right now; these passages of your documents are the most relevant:\n\n"
        + "\n\n".join(f"[{n}] {part}" for n, part in enumerate(parts, start=1))
    )
    return Answer(text=text, mode="extractive", citations=citations)
