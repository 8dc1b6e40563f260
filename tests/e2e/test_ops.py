"""Ops endpoints over HTTP against the real app, embedded PostgreSQL and a real redis-server."""

from __future__ import annotations

import asyncio
import io
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from fastapi import FastAPI

from app.auth.keys import create_key
from app.cache import redis as redis_module
from app.core.logging import configure_logging
from app.main import create_app
from app.settings import Settings
from app.store.db import create_engine
from tests.conftest import serve_app
from tests.helpers.postgres import PostgresForTests
from tests.helpers.redis_server import RedisServer


async def test_health_needs_no_dependencies_and_returns_a_request_id(app_client: Callable[..., Any]) -> None:
    async with app_client() as client:
        response = await client.get("/health")
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}
        assert len(response.headers["x-request-id"]) == 32
        echoed = await client.get("/health", headers={"X-Request-ID": "trace-abc.123"})
        assert echoed.headers["x-request-id"] == "trace-abc.123"
        unsafe = await client.get("/health", headers={"X-Request-ID": "bad id\twith spaces" + "x" * 80})
        assert unsafe.headers["x-request-id"] != "bad id\twith spaces" + "x" * 80


async def test_ready_reports_redis_down_and_recovers_without_restart(app_client: Callable[..., Any]) -> None:
    redis = RedisServer().start()
    try:
        async with app_client(redis_url=redis.url, redis_timeout=0.5) as client:
            ok = await client.get("/ready")
            assert ok.status_code == 200, ok.text
            assert ok.json()["checks"]["redis"]["status"] == "ok"
            assert ok.json()["checks"]["database"]["status"] == "ok"

            redis.stop()
            down = await client.get("/ready")
            assert down.status_code == 503
            body = down.json()["error"]
            assert body["code"] == "not_ready"
            assert body["details"]["failed"] == ["redis"]
            assert "redis" in body["message"].lower()
            assert body["request_id"] == down.headers["x-request-id"]
            assert "127.0.0.1" not in down.text, "the public probe names no host"
            assert str(redis.port) not in down.text

            redis.start()
            back = await client.get("/ready")
            assert back.status_code == 200, back.text
    finally:
        redis.stop()


async def test_ready_reports_the_database_down(
    pg: PostgresForTests, make_settings: Callable[..., Settings], redis_url: str
) -> None:
    from tests.conftest import serve_app

    url = pg.create_database()
    async with serve_app(create_app(make_settings(database_url=url, redis_url=redis_url))) as client:
        assert (await client.get("/ready")).status_code == 200
        pg.drop_database(url)
        down = await client.get("/ready")
        assert down.status_code == 503
        assert down.json()["error"]["details"]["failed"] == ["database"]
        database_name = url.rsplit("/", 1)[-1].split("?")[0]
        assert database_name not in down.text, down.text
        assert "does not exist" not in down.text, "the public probe quotes no database error"
        assert (await client.get("/health")).status_code == 200, "liveness does not depend on the database"
        for headers in ({"X-API-Key": "pw_wrong"}, {}):
            refused = await client.get("/api/v1/docs", headers=headers)
            if headers:
                assert refused.status_code == 503, "a key cannot be checked without the database: 503, never 500"
                assert refused.json()["error"]["code"] == "database_unavailable"
                assert database_name not in refused.text
            else:
                assert refused.status_code == 401, "no key at all needs no database"


async def test_without_redis_ready_says_not_configured(app_client: Callable[..., Any]) -> None:
    async with app_client() as client:
        response = await client.get("/ready")
        assert response.status_code == 200
        assert response.json()["checks"]["redis"] == {"status": "not_configured"}


async def test_metrics_expose_http_requests_total(app_client: Callable[..., Any]) -> None:
    async with app_client() as client:
        await client.get("/health")
        await client.get("/nope/123")
        await client.get("/api/v1/docs/3f0c")  # no key: 401, counted under its route template
        text = (await client.get("/metrics")).text
        assert 'http_requests_total{handler="/health",method="GET",status="2xx"} 1.0' in text
        assert 'http_requests_total{handler="none",method="GET",status="4xx"} 1.0' in text
        assert 'http_requests_total{handler="/api/v1/docs/{document_id}",method="GET",status="4xx"} 1.0' in text
        assert 'http_request_duration_seconds_count{handler="/health",method="GET"} 1.0' in text
        assert 'handler="/metrics"' not in text


async def test_error_envelopes(make_settings: Callable[..., Settings]) -> None:
    from tests.conftest import serve_app

    stream = io.StringIO()
    app: FastAPI = create_app(make_settings())
    configure_logging("INFO", "json", "test", stream=stream)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("database password=hunter2 leaked?")

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    async with serve_app(app) as client:
        crash = await client.get("/boom")
        assert crash.status_code == 500
        error = crash.json()["error"]
        assert error["code"] == "internal_error"
        assert "Sorry" in error["message"]
        assert error["request_id"] == crash.headers["x-request-id"]
        assert "hunter2" not in crash.text

        missing = await client.get("/nope")
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "not_found"

        wrong_method = await client.delete("/health")
        assert wrong_method.status_code == 405
        assert wrong_method.json()["error"]["code"] == "method_not_allowed"

        invalid = await client.get("/items/abc")
        assert invalid.status_code == 422
        assert invalid.json()["error"]["code"] == "validation_error"
        assert "item_id" in invalid.json()["error"]["message"]

    logs = [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]
    crash_logs = [entry for entry in logs if entry.get("event") == "unhandled error"]
    assert len(crash_logs) == 1
    assert "RuntimeError" in crash_logs[0]["exception"], "the stack is logged"
    assert "hunter2" not in crash_logs[0]["exception"], "and masked"
    assert crash_logs[0]["request_id"] == error["request_id"]


async def test_cors_origins_from_settings(app_client: Callable[..., Any]) -> None:
    async with app_client(cors_origins=["https://app.example.com"]) as client:
        preflight = await client.options(
            "/health", headers={"Origin": "https://app.example.com", "Access-Control-Request-Method": "GET"}
        )
        assert preflight.headers["access-control-allow-origin"] == "https://app.example.com"
        other = await client.get("/health", headers={"Origin": "https://evil.example.com"})
        assert "access-control-allow-origin" not in other.headers


def test_missing_redis_url_warns_once(monkeypatch: Any) -> None:
    stream = io.StringIO()
    configure_logging("INFO", "json", "test", stream=stream)
    monkeypatch.setattr(redis_module, "_warned_in_process", False)
    assert redis_module.create_redis(None) is None
    assert redis_module.create_redis(None) is None
    warnings = [line for line in stream.getvalue().splitlines() if "REDIS_URL is not set" in line]
    assert len(warnings) == 1


async def test_schema_behind_head_refuses_to_start(
    pg: PostgresForTests, make_settings: Callable[..., Settings]
) -> None:
    from app.core.errors import ConfigError
    from tests.conftest import serve_app

    with pg.database(migrated=False) as url:
        conn = psycopg2.connect(url)
        conn.close()
        app = create_app(make_settings(database_url=url))
        with pytest.raises(ConfigError, match="python -m app migrate"):
            async with serve_app(app):
                pass


async def _until(check: Callable[[], bool], seconds: float = 30) -> bool:
    deadline = asyncio.get_running_loop().time() + seconds
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def test_the_question_embedder_loads_at_start_without_a_question(make_settings: Callable[..., Settings]) -> None:
    app = create_app(make_settings(model_cache_dir=os.environ["MODEL_CACHE_DIR"]))
    async with serve_app(app) as client:
        model = app.state.resources.embedder.model
        assert await _until(lambda: model._session is not None), "no ONNX session 30 s after the start"
        assert (await client.get("/health")).status_code == 200


async def test_an_embedder_that_cannot_load_does_not_stop_the_app(
    make_settings: Callable[..., Settings], database_url: str, tmp_path: Path
) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    app = create_app(make_settings(model_cache_dir=tmp_path / "a-file" / "models"))
    engine = create_engine(database_url, pool_size=1)
    async with engine.begin() as conn:
        _, key = await create_key(conn, "ops test", "chat")
    await engine.dispose()
    async with serve_app(app) as client:
        assert (await client.get("/health")).status_code == 200
        reply = await client.post("/api/v1/chat", json={"question": "anything?"}, headers={"X-API-Key": key})
        assert reply.status_code == 500, reply.text
        assert "MODEL_CACHE_DIR" in reply.json()["error"]["message"], "the error does not say what to fix"
