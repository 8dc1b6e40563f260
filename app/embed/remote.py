"""OpenAI and Gemini embeddings as LlamaIndex ``BaseEmbedding``s over their official SDKs.

Both SDKs retry 429/5xx/connection failures with exponential backoff; what still fails is
translated here into ``EmbeddingUnavailable`` so callers decide on our types only.
"""

from __future__ import annotations

from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import PrivateAttr

from app.core.errors import EmbeddingUnavailable

DOCUMENT = "RETRIEVAL_DOCUMENT"
QUERY = "RETRIEVAL_QUERY"


class _RemoteEmbedding(BaseEmbedding):
    """LlamaIndex's five entry points mapped onto one ``_embed``/``_aembed`` pair per provider."""

    dimensions: int | None = None

    def _embed(self, texts: list[str], task: str) -> list[list[float]]:
        raise NotImplementedError

    async def _aembed(self, texts: list[str], task: str) -> list[list[float]]:
        raise NotImplementedError

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._embed(texts, DOCUMENT)

    def get_query_embeddings(self, queries: list[str]) -> list[list[float]]:
        """Several questions in one request (used to batch concurrent questions)."""
        return self._embed(queries, QUERY)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._embed([text], DOCUMENT)[0]

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._embed([query], QUERY)[0]

    async def _aget_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return await self._aembed(texts, DOCUMENT)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return (await self._aembed([query], QUERY))[0]


class OpenAIEmbedding(_RemoteEmbedding):
    """``POST /v1/embeddings`` through the ``openai`` SDK (any OpenAI-compatible base URL)."""

    _client: Any = PrivateAttr()
    _aclient: Any = PrivateAttr()

    def __init__(
        self,
        *,
        model_name: str,
        api_key: str,
        base_url: str | None,
        dimensions: int | None,
        timeout: float,
        max_retries: int,
        embed_batch_size: int,
    ) -> None:
        from openai import AsyncOpenAI, OpenAI

        super().__init__(model_name=model_name, embed_batch_size=embed_batch_size, dimensions=dimensions)
        self._client = OpenAI(api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries)
        self._aclient = AsyncOpenAI(api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries)

    async def aclose(self) -> None:
        self._client.close()
        await self._aclient.close()

    def _params(self, texts: list[str]) -> dict[str, Any]:
        params: dict[str, Any] = {"model": self.model_name, "input": texts}
        if self.dimensions:
            params["dimensions"] = self.dimensions
        return params

    def _embed(self, texts: list[str], task: str) -> list[list[float]]:
        import openai

        try:
            response = self._client.embeddings.create(**self._params(texts))
        except openai.OpenAIError as exc:
            raise EmbeddingUnavailable(f"OpenAI embeddings failed: {type(exc).__name__}: {exc}") from exc
        return [item.embedding for item in sorted(response.data, key=lambda d: d.index)]

    async def _aembed(self, texts: list[str], task: str) -> list[list[float]]:
        import openai

        try:
            response = await self._aclient.embeddings.create(**self._params(texts))
        except openai.OpenAIError as exc:
            raise EmbeddingUnavailable(f"OpenAI embeddings failed: {type(exc).__name__}: {exc}") from exc
        return [item.embedding for item in sorted(response.data, key=lambda d: d.index)]


class GeminiEmbedding(_RemoteEmbedding):
    """Gemini ``batchEmbedContents`` through ``google-genai``; documents and queries get their task types."""

    _client: Any = PrivateAttr()
    _async_http: Any = PrivateAttr()

    def __init__(
        self,
        *,
        model_name: str,
        api_key: str,
        base_url: str | None,
        dimensions: int | None,
        timeout: float,
        max_retries: int,
        embed_batch_size: int,
    ) -> None:
        import httpx
        from google import genai
        from google.genai import types

        super().__init__(model_name=model_name, embed_batch_size=min(embed_batch_size, 100), dimensions=dimensions)
        retry = types.HttpRetryOptions(attempts=max_retries + 1, initial_delay=0.5, max_delay=8.0)
        # httpx for async too: the SDK's aiohttp session subclasses ClientSession (deprecated) and leaks transports
        self._async_http = httpx.AsyncClient(timeout=timeout)
        options = types.HttpOptions(
            base_url=base_url, timeout=int(timeout * 1000), retry_options=retry, httpx_async_client=self._async_http
        )
        self._client = genai.Client(api_key=api_key, http_options=options)

    async def aclose(self) -> None:
        self._client.close()
        await self._async_http.aclose()

    def _config(self, task: str) -> Any:
        from google.genai import types

        return types.EmbedContentConfig(task_type=task, output_dimensionality=self.dimensions)

    def _embed(self, texts: list[str], task: str) -> list[list[float]]:
        from google.genai import errors

        try:
            result = self._client.models.embed_content(model=self.model_name, contents=texts, config=self._config(task))
        except (errors.APIError, OSError) as exc:
            raise EmbeddingUnavailable(f"Gemini embeddings failed: {type(exc).__name__}: {exc}") from exc
        return [list(e.values) for e in result.embeddings]

    async def _aembed(self, texts: list[str], task: str) -> list[list[float]]:
        from google.genai import errors

        try:
            result = await self._client.aio.models.embed_content(
                model=self.model_name, contents=texts, config=self._config(task)
            )
        except (errors.APIError, OSError) as exc:
            raise EmbeddingUnavailable(f"Gemini embeddings failed: {type(exc).__name__}: {exc}") from exc
        return [list(e.values) for e in result.embeddings]
