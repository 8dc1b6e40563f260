"""Page text from PDFs with pypdfium2 (~200 pages/s), and the reasons a file is refused.

Encrypted PDFs with an empty user password open as usual; anything else we cannot read is an
``InvalidInput`` with a stable code, raised before anything is written. The reading itself runs
in a child process with bounded memory and time (app/ingest/sandbox.py, ``parse_pdf``).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

from app.core.errors import InvalidInput

PDF_MAGIC = b"%PDF-"

_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200b\u3000]+")
_BLANK_LINES = re.compile(r"\n{3,}")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")


@dataclass(frozen=True)
class Page:
    """One non-empty page: its 1-based number as printed to users, its text, and its checksum."""

    number: int
    text: str
    sha256: str


@dataclass(frozen=True)
class ParsedPdf:
    sha256: str
    size: int
    page_count: int
    pages: list[Page]


def normalise_text(text: str) -> str:
    """Canonical page text: NFC, unified newlines and spaces, no control characters, trimmed lines.

    The page checksum is taken over this, so re-extraction noise (trailing spaces, CRLF) does
    not count as an edit.
    """
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", text)
    text = "\n".join(_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", text).strip()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_pages(data: bytes, *, max_pages: int, name: str) -> Iterator[int | tuple[int, str]]:
    """The page count, then ``(number, text)`` for each page with text, in order.

    Raises InvalidInput (with a specific code) for files that cannot be read. Not thread-safe
    (PDFium is not): app/ingest/sandbox.py runs it in a child process of its own.
    """
    import pypdfium2 as pdfium
    from pypdfium2 import PdfiumError

    if PDF_MAGIC not in data[:1024]:  # the spec allows the header anywhere in the first KiB
        raise InvalidInput(f"{name} is not a PDF (it does not start with %PDF-).", code="not_a_pdf")
    try:
        document = pdfium.PdfDocument(data)
    except PdfiumError as exc:
        if getattr(exc, "err_code", None) in (pdfium.raw.FPDF_ERR_PASSWORD, pdfium.raw.FPDF_ERR_SECURITY):
            raise InvalidInput(
                f"{name} is password-protected. Remove the password (or upload an unprotected copy) and try again.",
                code="pdf_encrypted",
            ) from exc
        raise InvalidInput(f"{name} is damaged and cannot be read as a PDF ({exc}).", code="pdf_corrupt") from exc
    try:
        page_count = len(document)
        if page_count == 0:
            raise InvalidInput(f"{name} has no pages.", code="pdf_corrupt")
        if page_count > max_pages:
            raise InvalidInput(
                f"{name} has {page_count} pages; the limit is {max_pages} (MAX_PDF_PAGES).", code="pdf_too_many_pages"
            )
        yield page_count
        for index in range(page_count):
            page = document[index]
            try:
                textpage = page.get_textpage()
                try:
                    text = normalise_text(textpage.get_text_range())
                finally:
                    textpage.close()
            finally:
                page.close()
            if text:
                yield index + 1, text
    except PdfiumError as exc:
        raise InvalidInput(f"{name} is damaged and cannot be read ({exc}).", code="pdf_corrupt") from exc
    finally:
        document.close()


def assemble(data: bytes, page_count: int, texts: list[tuple[int, str]], *, name: str) -> ParsedPdf:
    """The parsed document from its pages' texts; a document with no text at all is refused."""
    if not texts:
        raise InvalidInput(
            f"{name} has no text layer (scanned images only?). Run OCR on it first, then upload the result.",
            code="pdf_no_text",
        )
    pages = [Page(number=n, text=t, sha256=sha256_hex(t.encode())) for n, t in texts]
    return ParsedPdf(sha256=sha256_hex(data), size=len(data), page_count=page_count, pages=pages)
