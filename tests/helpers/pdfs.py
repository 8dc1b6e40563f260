"""Real PDF files built in tests: text pages written by hand, and edits of the golden PDFs via pdfium."""

from __future__ import annotations

import io
import zlib

import pypdfium2 as pdfium

from evals.dataset import DEFAULT_DATASET as DATASET

DOCUMENTS = DATASET / "documents"
SMALL_PDF = DOCUMENTS / "a4f3ced0696009fec3179f493e4f28c4.pdf"  # 17 pages, 100 KB
SMALL_PDF_2 = DOCUMENTS / "936c0e2c2e6c8e0c07c51bfaf7fd0a83.pdf"  # 15 pages


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def _double_flate(content: bytes, padding_mb: int) -> bytes:
    """``content`` then ``padding_mb`` MB of spaces, Flate-compressed twice: a few KB that inflate to the lot."""
    inner = zlib.compressobj(1)
    parts = [inner.compress(content)]
    block = b" " * (1 << 20)
    parts += [inner.compress(block) for _ in range(padding_mb)]
    parts.append(inner.flush())
    return zlib.compress(b"".join(parts), 9)


def make_pdf(pages: list[str], *, encrypt_with_password: bool = False, bomb_mb: int = 0) -> bytes:
    """A valid PDF whose page i shows ``pages[i]`` (one line per ``\\n``) in Helvetica.

    ``bomb_mb``: the last page's content stream is Flate inside Flate and inflates past that many
    MB (the decompression bomb of issue 26), while the file stays a few KB."""
    objects: list[bytes] = []
    n = len(pages)
    page_ids = [3 + 2 * i for i in range(n)]
    font_id = 3 + 2 * n
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    kids = " ".join(f"{pid} 0 R" for pid in page_ids)
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {n} >>".encode())
    for i, text in enumerate(pages):
        lines = text.split("\n") if text else []
        body = "BT /F1 11 Tf 14 TL 56 760 Td " + " ".join(f"({_escape(line)}) Tj T*" for line in lines) + " ET"
        content = body.encode("latin-1", "replace")
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 {font_id} 0 R >> >>"
            f" /Contents {page_ids[i] + 1} 0 R >>".encode()
        )
        filters = b""
        if bomb_mb and i == n - 1:
            content, filters = _double_flate(content, bomb_mb), b" /Filter [/FlateDecode /FlateDecode]"
        objects.append(
            b"<< /Length " + str(len(content)).encode() + filters + b" >>\nstream\n" + content + b"\nendstream"
        )
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    trailer_extra = b""
    if encrypt_with_password:
        # Standard security handler, RC4 40-bit; /U does not match the empty password, so a reader must ask for one.
        objects.append(b"<< /Filter /Standard /V 1 /R 2 /O <" + b"11" * 32 + b"> /U <" + b"22" * 32 + b"> /P -44 >>")
        trailer_extra = f" /Encrypt {len(objects)} 0 R /ID [<{'ab' * 16}> <{'ab' * 16}>]".encode()
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, obj in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n".encode() + obj + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R{trailer_extra.decode()} >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return out.getvalue()


def edit_pdf(
    data: bytes,
    *,
    replace: dict[int, str] | None = None,
    delete: list[int] | None = None,
    insert: dict[int, str] | None = None,
) -> bytes:
    """A copy of ``data`` with pages (1-based numbers) replaced by text pages, deleted, or inserted before."""
    doc = pdfium.PdfDocument(data)
    try:
        for number, text in sorted((replace or {}).items()):
            doc.del_page(number - 1)
            doc.import_pages(pdfium.PdfDocument(make_pdf([text])), [0], index=number - 1)
        for number in sorted(delete or [], reverse=True):
            doc.del_page(number - 1)
        for number, text in sorted((insert or {}).items(), reverse=True):
            doc.import_pages(pdfium.PdfDocument(make_pdf([text])), [0], index=number - 1)
        buffer = io.BytesIO()
        doc.save(buffer)
        return buffer.getvalue()
    finally:
        doc.close()
