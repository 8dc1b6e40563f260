"""Shared fixtures: a real embedded PostgreSQL, a real redis-server, and app/client factories."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from redis import Redis as SyncRedis

from app.main import create_app
from app.settings import Settings
from app.store.embedded import stop_embedded
from evals.dataset import DEFAULT_DATASET
from tests.helpers.postgres import PostgresForTests
from tests.helpers.redis_server import RedisServer, start_or_reuse

# Tests configure everything explicitly: never pick up the developer's environment.
for _name in Settings.model_fields:
    os.environ.pop(_name.upper(), None)

REPO = Path(__file__).resolve().parents[1]
# ...but share the local embedder's ONNX export (the one `make run` makes): exported once, not per test.
os.environ["MODEL_CACHE_DIR"] = str(REPO / ".data" / "models")


def pytest_sessionstart(session: pytest.Session) -> None:
    """Many tests read the golden PDFs: without them, stop with one clear message instead of dozens of tracebacks."""
    if not (DEFAULT_DATASET / "manifest.json").is_file():
        pytest.exit(
            f"the golden dataset is missing: no {DEFAULT_DATASET / 'manifest.json'}. It ships in the repository "
            "(evals/datasets/mmlongbench-ci); restore it with git checkout -- evals/datasets.",
            returncode=4,
        )


@pytest.fixture(scope="session")
def pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresForTests]:
    data_dir = tmp_path_factory.mktemp("pg")
    server = PostgresForTests(data_dir)
    yield server
    stop_embedded(data_dir)


@pytest.fixture
def database_url(pg: PostgresForTests) -> Iterator[str]:
    """A fresh, migrated database of its own for one test."""
    with pg.database() as url:
        yield url


@pytest.fixture(scope="session")
def redis_service() -> Iterator[tuple[str, RedisServer | None]]:
    url, server = start_or_reuse()
    yield url, server
    if server is not None:
        server.stop()


@pytest.fixture
def redis_url(redis_service: tuple[str, RedisServer | None]) -> str:
    url = redis_service[0]
    with SyncRedis.from_url(url) as client:
        client.flushdb()
    return url


@pytest.fixture
def make_settings(tmp_path: Path, database_url: str) -> Callable[..., Settings]:
    def factory(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "data_dir": tmp_path / "data",
            "database_url": database_url,
            "environment": "test",
            "log_format": "json",
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    return factory


@asynccontextmanager
async def serve_app(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Run the app's lifespan and give an HTTP client speaking to it in-process."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


@pytest.fixture
def app_client(make_settings: Callable[..., Settings]) -> Callable[..., Any]:
    """``async with app_client(**settings) as client`` — the real app on a fresh database."""

    def factory(app: FastAPI | None = None, **overrides: Any) -> Any:
        return serve_app(app or create_app(make_settings(**overrides)))

    return factory


@pytest.fixture(scope="session")
def minilm() -> Any:
    """The real local embedder, loaded once per session."""
    from app.embed.local import local_minilm

    embedder = local_minilm(Path(os.environ["MODEL_CACHE_DIR"]))
    _ = embedder.model
    return embedder
