from __future__ import annotations

import json

import pytest

from app.core.errors import InvalidInput
from app.ingest.pdf import normalise_text
from app.ingest.sandbox import ParseLimits, parse_pdf
from tests.helpers.pdfs import DATASET, make_pdf


def test_every_golden_pdf_parses_with_text_on_its_pages() -> None:
    manifest = json.loads((DATASET / "manifest.json").read_text())
    assert len(manifest) == 30
    for entry in manifest:
        parsed = parse_pdf((DATASET / "documents" / entry["file"]).read_bytes(), name=entry["file"])
        assert parsed.page_count == entry["pages"]
        assert parsed.sha256 == entry["sha256"]
        assert len(parsed.pages) >= entry["pages"] - 2, "nearly every page has a text layer"
        assert all(1 <= p.number <= entry["pages"] for p in parsed.pages)


def test_normalisation_ignores_extraction_noise() -> None:
    assert normalise_text("Total  revenue \r\n\r\n\r\n\r\n  grew\u00a0 5%  \x00") == "Total revenue\n\ngrew 5%"
    a, b = parse_pdf(make_pdf(["Same text"])), parse_pdf(make_pdf(["Same   text  "]))
    assert a.pages[0].sha256 == b.pages[0].sha256


def test_page_limit_is_enforced() -> None:
    with pytest.raises(InvalidInput) as info:
        parse_pdf(make_pdf(["a", "b", "c"]), limits=ParseLimits(max_pages=2))
    assert info.value.code == "pdf_too_many_pages"
    assert "MAX_PDF_PAGES" in info.value.message


def test_a_decompression_bomb_is_refused_and_the_next_file_reads() -> None:
    bomb = make_pdf(["A harmless first page.", "x"], bomb_mb=300)  # 5 KB that inflate to 300 MB
    assert len(bomb) < 10_000
    limits = ParseLimits(memory_mb=192)
    with pytest.raises(InvalidInput) as info:
        parse_pdf(bomb, limits=limits, name="bomb.pdf")
    assert info.value.code == "pdf_too_complex"
    assert "PARSE_MEMORY_MB" in info.value.message
    assert "bomb.pdf" in info.value.message
    assert [p.text for p in parse_pdf(make_pdf(["After the bomb."]), limits=limits).pages] == ["After the bomb."]
    assert parse_pdf(bomb, limits=ParseLimits(memory_mb=1024)).pages[1].text == "x", "with room enough it is read"


def test_reading_past_the_time_limit_is_refused() -> None:
    slow = make_pdf(["first", "x"], bomb_mb=300)  # inflating 300 MB takes far more than 50 ms
    limits = ParseLimits(memory_mb=1024, document_seconds=0.05)
    with pytest.raises(InvalidInput) as info:
        parse_pdf(slow, limits=limits, name="slow.pdf")
    assert info.value.code == "pdf_too_complex"
    assert "PARSE_DOCUMENT_SECONDS" in info.value.message
    assert parse_pdf(make_pdf(["quick"]), limits=limits).pages[0].text == "quick"


def test_a_reader_that_dies_is_replaced() -> None:
    from app.ingest import sandbox

    limits = ParseLimits(max_pages=7)
    assert parse_pdf(make_pdf(["one"]), limits=limits).page_count == 1
    child = sandbox._PARSERS[limits]._child
    assert child is not None
    child.proc.kill()
    child.proc.wait(5)
    assert parse_pdf(make_pdf(["two"]), limits=limits).pages[0].text == "two"
