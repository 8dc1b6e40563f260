"""Hostile input gets a 4xx with a stable code, never a 500: NUL characters, numbers past the database's range.

Found by a probe (issue 26): asyncpg refuses NUL in a parameter and PostgreSQL an INTEGER past
2^31 - 1, and each of these answered 500 with a traceback in the log.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from app.auth.keys import create_key
from app.store.db import create_engine


async def _key(database_url: str, scopes: str) -> str:
    engine = create_engine(database_url, pool_size=1)
    async with engine.begin() as conn:
        _, plain = await create_key(conn, "hostile", scopes)
    await engine.dispose()
    return plain


async def test_nul_characters_are_refused_with_422_everywhere(
    app_client: Callable[..., Any], database_url: str
) -> None:
    headers = {"X-API-Key": await _key(database_url, "chat,docs:write")}
    async with app_client() as client:
        chat = [
            await client.post("/api/v1/chat?stream=false", json=body, headers=headers)
            for body in (
                {"question": "a\u0000b"},
                {"question": "what?", "filters": {"tags": ["x\u0000"]}},
                {"question": "what?", "session_id": "s1", "filters": {"tags": ["\u0000"]}},
            )
        ]
        for response in chat:
            assert response.status_code == 422, response.text
            assert response.json()["error"]["code"] == "validation_error"
            assert "NUL" in response.json()["error"]["message"]
        listing = [await client.get(f"/api/v1/docs?{query}", headers=headers) for query in ("tag=%00", "author=%00x")]
        for response in listing:
            assert response.status_code == 422, response.text
            assert response.json()["error"]["code"] == "invalid_characters"
            assert "NUL" in response.json()["error"]["message"]
        unauthenticated = await client.get("/api/v1/docs?tag=%00")
        assert unauthenticated.status_code in {401, 422}, "refused either way, never a 500"
        patch = await client.patch(
            "/api/v1/docs/4f9c2a55-8b1e-4d55-a0c0-2b9e8f3f0a11", json={"title": "t\u0000"}, headers=headers
        )
        assert patch.status_code == 422, patch.text
        assert (
            await client.post("/api/v1/chat?stream=false", json={"question": "ok?"}, headers=headers)
        ).status_code == 200


async def test_numbers_past_the_database_range_are_422(app_client: Callable[..., Any], database_url: str) -> None:
    headers = {"X-API-Key": await _key(database_url, "chat")}
    async with app_client() as client:
        offset = await client.get("/api/v1/docs?offset=9223372036854775808", headers=headers)
        assert offset.status_code == 422, offset.text
        assert offset.json()["error"]["code"] == "validation_error"
        version = await client.get(
            "/api/v1/docs/4f9c2a55-8b1e-4d55-a0c0-2b9e8f3f0a11/versions/2147483648/file", headers=headers
        )
        assert version.status_code == 422, version.text
        last_valid = await client.get(
            "/api/v1/docs/4f9c2a55-8b1e-4d55-a0c0-2b9e8f3f0a11/versions/2147483647/file", headers=headers
        )
        assert last_valid.status_code == 404, last_valid.text
        assert (await client.get("/api/v1/docs?offset=2147483647", headers=headers)).json()["documents"] == []


async def test_every_response_carries_security_headers(app_client: Callable[..., Any]) -> None:
    async with app_client() as client:
        for path in ("/health", "/api/v1/models", "/nope"):
            response = await client.get(path)
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["x-frame-options"] == "DENY"
            assert response.headers["referrer-policy"] == "no-referrer"
            assert response.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
        docs = await client.get("/docs")
        assert docs.status_code == 200
        assert "content-security-policy" not in docs.headers, "Swagger UI loads its script from a CDN"
        assert docs.headers["x-content-type-options"] == "nosniff"


async def test_a_decompression_bomb_upload_is_refused_and_nothing_is_kept(
    app_client: Callable[..., Any], database_url: str
) -> None:
    from tests.helpers.pdfs import make_pdf

    headers = {"X-API-Key": await _key(database_url, "chat,docs:write")}
    bomb = make_pdf(["A harmless first page.", "x"], bomb_mb=300)
    async with app_client(parse_memory_mb=192) as client:
        refused = await client.post(
            "/api/v1/docs", headers=headers, files={"file": ("bomb.pdf", bomb, "application/pdf")}
        )
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["code"] == "pdf_too_complex"
        assert "PARSE_MEMORY_MB" in refused.json()["error"]["message"]
        assert (await client.get("/api/v1/docs", headers=headers)).json()["total"] == 0
        ok = await client.post(
            "/api/v1/docs", headers=headers, files={"file": ("ok.pdf", make_pdf(["Fine."]), "application/pdf")}
        )
        assert ok.status_code == 202, ok.text
        job_id = ok.json()["job_id"]
        uploader = {"X-API-Key": await _key(database_url, "docs:write")}  # may poll its upload, nothing more
        assert (await client.get("/api/v1/docs", headers=uploader)).status_code == 403
        for _ in range(600):
            job = (await client.get(f"/api/v1/jobs/{job_id}", headers=uploader)).json()
            if job["status"] in ("succeeded", "failed"):
                break
            await asyncio.sleep(0.1)
        assert job["status"] == "succeeded", job
