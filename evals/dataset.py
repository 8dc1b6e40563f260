"""Golden datasets: a folder with ``documents/`` (PDFs) and JSONL files of questions with gold pages.

Generic on purpose, so another set plugs in with ``--dataset DIR``. A question row needs
``question``, ``doc_id`` (a file name in ``documents/``) and its gold pages
(``evidence_pages_1based``, or ``gold_pages``); ``id``, ``answer`` and ``answer_format`` (Str, the default, Int, Float, List,
None) are optional. A row whose answer is "Not answerable" (or whose format is None) is an
unanswerable question: the system should say the documents do not answer. A row without an
answer is scored for retrieval only.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_DATASET = Path(__file__).resolve().parent / "datasets" / "mmlongbench-ci"
UNANSWERABLE = "not answerable"
SPLITS = ("dev", "test")


class DatasetError(ValueError):
    """The dataset folder or one of its rows is not usable; the message says which and why."""


@dataclass(frozen=True)
class Question:
    id: str
    doc_id: str
    question: str
    answer: str | None
    answer_format: str
    gold_pages: tuple[int, ...]  # 1-based, as printed to users
    answerable: bool
    sources: tuple[str, ...] = ()

    @property
    def scorable(self) -> bool:
        """Counts in the retrieval metrics: answerable, with at least one valid gold page."""
        return self.answerable and bool(self.gold_pages)


@dataclass
class Dataset:
    name: str
    root: Path
    questions: list[Question] = field(default_factory=list)

    @property
    def documents_dir(self) -> Path:
        return self.root / "documents"

    @property
    def answerable(self) -> list[Question]:
        return [q for q in self.questions if q.answerable]

    @property
    def unanswerable(self) -> list[Question]:
        return [q for q in self.questions if not q.answerable]

    def documents(self) -> list[Path]:
        """The PDFs the questions ask about, sorted (other files in the folder are left out)."""
        return sorted({self.documents_dir / q.doc_id for q in self.questions})

    def splits(self) -> dict[str, str]:
        """Each document's half: ``dev`` (tune on it) or ``test`` (report it), by whole documents.

        Documents in the order of the SHA-256 of their file name go, one by one, to the half with
        fewer scorable questions so far: a fixed, balanced split that no tuning can move, and no
        document's questions on both sides.
        """
        counts: dict[str, int] = {}
        for q in self.questions:
            counts[q.doc_id] = counts.get(q.doc_id, 0) + int(q.scorable)
        sizes = dict.fromkeys(SPLITS, 0)
        assigned: dict[str, str] = {}
        for doc_id in sorted(counts, key=lambda name: hashlib.sha256(name.encode()).hexdigest()):
            half = min(SPLITS, key=lambda s: sizes[s])
            assigned[doc_id] = half
            sizes[half] += counts[doc_id]
        return assigned

    def subset(self, max_documents: int) -> Dataset:
        """The questions of the first ``max_documents`` documents (by name): a quick, repeatable sample."""
        keep = {p.name for p in self.documents()[:max_documents]}
        return Dataset(self.name, self.root, [q for q in self.questions if q.doc_id in keep])


def _question(row: dict[str, object], where: str) -> Question:
    try:
        text = str(row["question"]).strip()
        doc_id = str(row["doc_id"])
    except KeyError as exc:
        raise DatasetError(f"{where}: the field {exc.args[0]!r} is missing") from exc
    pages_raw = row.get("evidence_pages_1based", row.get("gold_pages", []))
    if not isinstance(pages_raw, list) or not all(isinstance(p, int) for p in pages_raw):
        raise DatasetError(f"{where}: gold pages must be a list of 1-based page numbers, got {pages_raw!r}")
    answer = None if row.get("answer") is None else str(row["answer"])
    fmt = str(row.get("answer_format") or "Str")  # "None" is how the source marks unanswerable rows
    answerable = not (fmt == "None" or (answer or "").strip().lower() == UNANSWERABLE)
    sources = row.get("evidence_sources") or []
    return Question(
        id=str(row.get("id") or where),
        doc_id=doc_id,
        question=text,
        answer=answer,
        answer_format=fmt,
        # Page numbers below 1 are errors in the source (one mmlongbench row has page 0): such a
        # question keeps its answer but cannot be scored for retrieval (see ``scorable``).
        gold_pages=tuple(sorted({p for p in pages_raw if p >= 1})),
        answerable=answerable,
        sources=tuple(str(s) for s in sources) if isinstance(sources, list) else (),
    )


def load_dataset(root: Path) -> Dataset:
    """Every ``*.jsonl`` in ``root`` (sorted), checked against ``root/documents``."""
    root = root.resolve()
    if not (root / "documents").is_dir():
        raise DatasetError(f"{root} has no documents/ folder: a dataset is a folder of PDFs plus JSONL questions")
    files = sorted(root.glob("*.jsonl"))
    if not files:
        raise DatasetError(f"{root} has no *.jsonl file of questions")
    questions: list[Question] = []
    for path in files:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            where = f"{path.name}:{number}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{where}: not JSON ({exc.msg})") from exc
            questions.append(_question(row, where))
    ids = [q.id for q in questions]
    if len(set(ids)) != len(ids):
        raise DatasetError(f"{root}: question ids must be unique")
    missing = sorted({q.doc_id for q in questions if not (root / "documents" / q.doc_id).is_file()})
    if missing:
        raise DatasetError(f"{root}/documents lacks files the questions ask about: {', '.join(missing)}")
    return Dataset(root.name, root, questions)
