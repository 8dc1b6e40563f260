from __future__ import annotations

import uuid

from app.rag.extractive import best_sentences, extractive_answer
from app.store.search import Hit

DOC = uuid.UUID("3f1c2a52-0b5e-4e8e-9d6f-2c8a3c1b7e10")


def hit(text: str, page: int, score: float) -> Hit:
    return Hit(
        node_id=f"n{page}", text=text, document_id=DOC, version=2, page=page, file_name="report.pdf", score=score
    )


def test_quotes_the_relevant_sentences_with_citations() -> None:
    hits = [
        hit("The company was founded in 1998. Revenue grew 12% in 2023 to $4.2 billion. Offices are in Oslo.", 7, 0.9),
        hit("Costs fell in 2023. Headcount was flat.", 9, 0.7),
        hit("Unrelated appendix text.", 30, 0.2),
        hit("Fourth passage.", 31, 0.1),
    ]
    answer = extractive_answer("How much did revenue grow in 2023?", hits, max_passages=3, max_chars=80)
    assert answer.mode == "extractive"
    assert [c.page for c in answer.citations] == [7, 9, 30]
    assert answer.citations[0].passage.startswith("Revenue grew 12% in 2023")
    assert all(c.version == 2 and c.file_name == "report.pdf" and c.document_id == str(DOC) for c in answer.citations)
    assert "(report.pdf, page 7)" in answer.text
    assert answer.text.startswith("No language model is available")


def test_no_passages_is_said_plainly() -> None:
    answer = extractive_answer("anything?", [])
    assert answer.citations == []
    assert "no passage" in answer.text


def test_sentence_order_is_kept_and_length_bounded() -> None:
    passage = "Alpha beta. Gamma revenue delta. Epsilon revenue zeta. " + "Filler sentence here. " * 40
    quote = best_sentences("revenue", passage, 60)
    assert quote == "Gamma revenue delta. Epsilon revenue zeta."
    assert len(best_sentences("nothing", "x" * 1000, 100)) <= 100
