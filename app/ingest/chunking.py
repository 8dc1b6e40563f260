"""Sentence-aware chunks within one page, with ids that stay the same for the same page content.

A chunk's id is derived from (document, page number, page checksum, chunk index): unchanged
pages keep their chunks across versions, an edited page gets new ones, and two pages with the
same text (blank pages, boilerplate) never collapse onto one another.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from functools import lru_cache

from llama_index.core.node_parser import SentenceSplitter

from app.embed.base import token_ids

_NAMESPACE = uuid.UUID("5b0c52a4-7f5e-4a0e-9d0e-6e1f0c4a9b11")


@dataclass(frozen=True)
class Chunk:
    node_id: str
    index: int
    text: str


def chunk_node_id(document_id: uuid.UUID, page_number: int, page_sha256: str, index: int) -> str:
    """Deterministic id of a chunk; the same inputs always give the same id."""
    return str(uuid.uuid5(_NAMESPACE, f"{document_id}/{page_number}/{page_sha256}/{index}"))


@lru_cache(maxsize=8)
def _splitter(chunk_size: int, chunk_overlap: int) -> SentenceSplitter:
    return SentenceSplitter(
        chunk_size=chunk_size,
        chunk_overlap=chunk_overlap,
        tokenizer=token_ids,
        paragraph_separator="\n\n",
        include_prev_next_rel=False,
    )


def chunk_page(
    document_id: uuid.UUID, page_number: int, page_sha256: str, text: str, *, chunk_size: int, chunk_overlap: int
) -> list[Chunk]:
    """Split one page's text into chunks of at most ``chunk_size`` tokens."""
    pieces = [piece for piece in _splitter(chunk_size, chunk_overlap).split_text(text) if piece.strip()]
    return [
        Chunk(node_id=chunk_node_id(document_id, page_number, page_sha256, i), index=i, text=piece)
        for i, piece in enumerate(pieces)
    ]
