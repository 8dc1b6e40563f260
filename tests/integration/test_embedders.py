"""Remote embedders through their real SDKs against fake servers on 127.0.0.1 speaking the same protocol."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from app.core.errors import ConfigError, EmbeddingUnavailable
from app.embed import create_embedder
from app.ingest.service import open_ingestor
from app.settings import Settings
from tests.helpers.fake_server import FakeServer, Fault, fake_vector, gemini_embeddings_server, openai_embeddings_server
from tests.helpers.pdfs import make_pdf


def _settings(**values: Any) -> Settings:
    return Settings(_env_file=None, embed_max_retries=2, embed_timeout=5, **values)  # type: ignore[call-arg]


def test_openai_embeddings_wire_format_batches_and_auth() -> None:
    with FakeServer() as server:
        openai_embeddings_server(server)
        embedder = create_embedder(
            _settings(
                embed_provider="openai",
                openai_api_key="sk-test-123456789012",
                openai_base_url=server.url + "/v1",
                embed_batch_size=2,
            )
        )
        assert (embedder.model_id, embedder.dim) == ("openai:text-embedding-3-small", 1536)
        vectors = embedder.model.get_text_embedding_batch(["alpha", "beta", "gamma"])
        assert [len(v) for v in vectors] == [1536] * 3
        assert vectors[0] == embedder.model.get_text_embedding("alpha")
        assert vectors[0][:3] == pytest.approx(fake_vector("alpha", 1536)[:3], rel=1e-6)
        first = server.requests[0]
        assert first.headers["authorization"] == "Bearer sk-test-123456789012"
        assert first.body["model"] == "text-embedding-3-small"
        assert first.body["encoding_format"] == "base64", "the SDK asks for base64 floats; the fake answers in kind"
        assert [r.body["input"] for r in server.requests[:2]] == [["alpha", "beta"], ["gamma"]]


def test_openai_retries_429_and_500_then_succeeds() -> None:
    with FakeServer() as server:
        openai_embeddings_server(server)
        server.fail(
            Fault(status=429, headers={"retry-after-ms": "10"}), Fault(status=500, headers={"retry-after-ms": "10"})
        )
        embedder = create_embedder(
            _settings(embed_provider="openai", openai_api_key="sk-x", openai_base_url=server.url + "/v1")
        )
        assert len(embedder.model.get_text_embedding("hello")) == 1536
        assert len(server.requests) == 3


def test_openai_persistent_failure_is_embedding_unavailable() -> None:
    with FakeServer() as server:
        openai_embeddings_server(server)
        server.fail(*[Fault(status=503, headers={"retry-after-ms": "5"}) for _ in range(5)])
        embedder = create_embedder(
            _settings(embed_provider="openai", openai_api_key="sk-x", openai_base_url=server.url + "/v1")
        )
        with pytest.raises(EmbeddingUnavailable) as info:
            embedder.model.get_text_embedding("hello")
        assert info.value.code == "embedding_unavailable"
        assert len(server.requests) == 3, "the first try and EMBED_MAX_RETRIES=2 retries"


def test_gemini_embeddings_task_types_dimensions_and_errors() -> None:
    with FakeServer() as server:
        gemini_embeddings_server(server)
        embedder = create_embedder(
            _settings(
                embed_provider="gemini", google_api_key="AIzaTEST", gemini_base_url=server.url, embed_dimensions=256
            )
        )
        assert (embedder.model_id, embedder.dim) == ("gemini:gemini-embedding-001", 256)
        docs = embedder.model.get_text_embedding_batch(["one", "two"])
        query = embedder.model.get_query_embedding("one")
        assert [len(v) for v in docs] == [256, 256]
        assert len(query) == 256
        assert server.requests[0].headers["x-goog-api-key"] == "AIzaTEST"
        assert [r["taskType"] for r in server.requests[0].body["requests"]] == ["RETRIEVAL_DOCUMENT"] * 2
        assert server.requests[1].body["requests"][0]["taskType"] == "RETRIEVAL_QUERY"
        server.fail(*[Fault(status=500) for _ in range(5)])
        with pytest.raises(EmbeddingUnavailable, match="Gemini"):
            embedder.model.get_text_embedding("three")


@pytest.mark.parametrize(("provider", "variable"), [("openai", "OPENAI_API_KEY"), ("gemini", "GOOGLE_API_KEY")])
def test_missing_key_names_the_variable(provider: str, variable: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        create_embedder(_settings(embed_provider=provider))


def test_unknown_remote_model_needs_dimensions_and_local_is_minilm_only() -> None:
    with pytest.raises(ConfigError, match="EMBED_DIMENSIONS"):
        create_embedder(_settings(embed_provider="openai", openai_api_key="sk-x", embed_model="my-model"))
    with pytest.raises(ConfigError, match="all-MiniLM-L6-v2"):
        create_embedder(_settings(embed_model="bge-large"))


async def test_ingest_through_openai_switches_an_empty_index_to_its_table(
    make_settings: Callable[..., Settings], database_url: str
) -> None:
    with FakeServer() as server:
        openai_embeddings_server(server)
        settings = make_settings(
            embed_provider="openai", openai_api_key="sk-x", openai_base_url=server.url + "/v1", embed_dimensions=64
        )
        async with open_ingestor(settings, database_url) as ingestor:
            assert ingestor.table.index_name == "chunks_openai_text_embedding_3_small_64"
            result = await ingestor.ingest_bytes(
                make_pdf(["Remote embeddings page one.", "Page two."]), file_name="r.pdf"
            )
        assert (result.status, result.embeddings) == ("ingested", 2)
        assert all(r.body["dimensions"] == 64 for r in server.requests)


async def test_async_paths_of_both_providers() -> None:
    with FakeServer() as server:
        openai_embeddings_server(server)
        gemini_embeddings_server(server)
        openai = create_embedder(
            _settings(embed_provider="openai", openai_api_key="sk-x", openai_base_url=server.url + "/v1")
        )
        gemini = create_embedder(
            _settings(embed_provider="gemini", google_api_key="AIzaX", gemini_base_url=server.url, embed_dimensions=16)
        )
        for embedder, dim in ((openai, 1536), (gemini, 16)):
            docs = await embedder.model.aget_text_embedding_batch(["a", "b"])
            query = await embedder.model.aget_query_embedding("a")
            assert [len(v) for v in docs] == [dim, dim]
            assert len(query) == dim
        assert server.requests[-1].body["requests"][0]["taskType"] == "RETRIEVAL_QUERY"
        server.fail(*[Fault(status=500, headers={"retry-after-ms": "5"}) for _ in range(8)])
        with pytest.raises(EmbeddingUnavailable):
            await openai.model.aget_query_embedding("down")
        with pytest.raises(EmbeddingUnavailable):
            await gemini.model.aget_query_embedding("down")
        await openai.aclose()
        await gemini.aclose()
