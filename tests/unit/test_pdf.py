from __future__ import annotations

import json

import pytest

from app.core.errors import InvalidInput
from app.ingest.pdf import normalise_text, parse_pdf
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
        parse_pdf(make_pdf(["a", "b", "c"]), max_pages=2)
    assert info.value.code == "pdf_too_many_pages"
    assert "MAX_PDF_PAGES" in info.value.message
