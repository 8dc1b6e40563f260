"""The golden dataset loader: the golden set as its README describes it, and clear errors for bad sets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.dataset import DEFAULT_DATASET, DatasetError, load_dataset


def test_the_golden_set_loads_as_documented() -> None:
    dataset = load_dataset(DEFAULT_DATASET)
    assert len(dataset.answerable) == 125
    assert len(dataset.unanswerable) == 52
    assert len(dataset.documents()) == 30
    assert all(p.is_file() for p in dataset.documents())
    unscorable = [q.id for q in dataset.answerable if not q.scorable]
    assert unscorable == ["mmlb-0189"], "the one source row with gold page 0 cannot be scored for retrieval"
    multi = [q for q in dataset.answerable if len(q.gold_pages) > 1]
    assert len(multi) >= 60
    quick = dataset.subset(4)
    assert len(quick.documents()) == 4
    assert {q.doc_id for q in quick.questions} == {p.name for p in dataset.documents()[:4]}


def _dataset(tmp_path: Path, rows: list[object], files: tuple[str, ...] = ("a.pdf",)) -> Path:
    (tmp_path / "documents").mkdir()
    for name in files:
        (tmp_path / "documents" / name).write_bytes(b"%PDF-1.4\n")
    (tmp_path / "qa.jsonl").write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows))
    return tmp_path


def test_a_generic_dataset_with_gold_pages_field(tmp_path: Path) -> None:
    root = _dataset(tmp_path, [{"question": "Q?", "doc_id": "a.pdf", "gold_pages": [2, 1, 2], "answer": "x"}])
    dataset = load_dataset(root)
    question = dataset.questions[0]
    assert question.gold_pages == (1, 2)
    assert question.answerable
    assert question.scorable
    assert question.answer_format == "Str"


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (["{not json"], "qa.jsonl:1: not JSON"),
        ([{"doc_id": "a.pdf"}], "'question' is missing"),
        (
            [{"question": "Q", "doc_id": "missing.pdf", "gold_pages": [1]}],
            "lacks files the questions ask about: missing.pdf",
        ),
        ([{"question": "Q", "doc_id": "a.pdf", "gold_pages": "1"}], "gold pages must be a list"),
        ([{"id": "1", "question": "Q", "doc_id": "a.pdf"}, {"id": "1", "question": "R", "doc_id": "a.pdf"}], "unique"),
    ],
)
def test_bad_rows_are_named(tmp_path: Path, rows: list[object], message: str) -> None:
    with pytest.raises(DatasetError, match=message.replace("(", r"\(").replace("?", r"\?")):
        load_dataset(_dataset(tmp_path, rows))


def test_a_folder_without_documents_or_questions(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no documents/ folder"):
        load_dataset(tmp_path)
    (tmp_path / "documents").mkdir()
    with pytest.raises(DatasetError, match=r"no \*\.jsonl file"):
        load_dataset(tmp_path)
