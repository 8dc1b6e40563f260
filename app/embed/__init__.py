"""Embedding providers (local MiniLM, OpenAI, Gemini) behind one factory, used by ingest and rag."""

from __future__ import annotations

from llama_index.core.base.embeddings.base import BaseEmbedding

from app.core.errors import ConfigError
from app.embed.base import KNOWN_DIMENSIONS, LOCAL_MODEL, Embedder
from app.settings import Settings

DEFAULT_MODELS = {"local": LOCAL_MODEL, "openai": "text-embedding-3-small", "gemini": "gemini-embedding-001"}
_KEY_VARS = {"openai": "OPENAI_API_KEY", "gemini": "GOOGLE_API_KEY"}


def create_embedder(settings: Settings) -> Embedder:
    """The embedder EMBED_PROVIDER selects; a missing key is a ConfigError naming the variable."""
    provider = settings.embed_provider
    model_name = settings.embed_model or DEFAULT_MODELS[provider]
    if provider == "local":
        if model_name != LOCAL_MODEL:
            raise ConfigError(
                f"EMBED_MODEL={model_name} is not available offline; the local provider ships {LOCAL_MODEL}."
            )
        from app.embed.local import local_minilm

        return local_minilm(
            settings.model_cache_dir or settings.data_dir / "models",
            settings.embed_batch_size,
            settings.query_embedding_precision,
        )

    key = settings.openai_api_key if provider == "openai" else settings.google_api_key
    if key is None:
        raise ConfigError(
            f"EMBED_PROVIDER={provider} needs {_KEY_VARS[provider]}: set it, or use EMBED_PROVIDER=local (offline MiniLM)."
        )
    dim = settings.embed_dimensions or KNOWN_DIMENSIONS.get(model_name)
    if dim is None:
        raise ConfigError(f"The size of {model_name}'s vectors is unknown: set EMBED_DIMENSIONS.")
    from app.embed.remote import GeminiEmbedding, OpenAIEmbedding

    cls = OpenAIEmbedding if provider == "openai" else GeminiEmbedding
    secret = key.get_secret_value()
    base_url = settings.openai_base_url if provider == "openai" else settings.gemini_base_url

    def load() -> BaseEmbedding:
        return cls(
            model_name=model_name,
            api_key=secret,
            base_url=base_url,
            dimensions=settings.embed_dimensions,
            timeout=settings.embed_timeout,
            max_retries=settings.embed_max_retries,
            embed_batch_size=settings.embed_batch_size,
        )

    return Embedder(f"{provider}:{model_name}", dim, load)


__all__ = ["Embedder", "create_embedder"]
