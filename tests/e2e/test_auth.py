"""API keys over HTTP: the 401/403 matrix, both headers, revocation; the keys CLI; /api/v1/models."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import text

from app.auth.keys import create_key, revoke_key
from app.store.db import create_engine
from tests.conftest import REPO


async def _key(database_url: str, scopes: str) -> str:
    engine = create_engine(database_url, pool_size=1)
    async with engine.begin() as conn:
        _, plain = await create_key(conn, f"test {scopes}", scopes)
    await engine.dispose()
    return plain


async def test_auth_matrix_and_models(app_client: Callable[..., Any], database_url: str) -> None:
    chat = await _key(database_url, "chat")
    writer = await _key(database_url, "docs:write")
    admin = await _key(database_url, "admin")
    async with app_client(auth_cache_seconds=0) as client:
        missing = await client.get("/api/v1/models")
        assert missing.status_code == 401
        assert missing.json()["error"]["code"] == "unauthorized"
        assert missing.headers["www-authenticate"] == "Bearer"
        wrong = await client.get("/api/v1/models", headers={"Authorization": "Bearer pgw_not_a_real_key"})
        assert wrong.status_code == 401
        forbidden = await client.get("/api/v1/models", headers={"X-API-Key": writer})
        assert forbidden.status_code == 403
        assert forbidden.json()["error"]["code"] == "forbidden"
        assert "'chat' scope" in forbidden.json()["error"]["message"]
        for headers in ({"Authorization": f"Bearer {chat}"}, {"X-API-Key": chat}, {"Authorization": f"bearer {admin}"}):
            ok = await client.get("/api/v1/models", headers=headers)
            assert ok.status_code == 200, ok.text
        models = ok.json()["models"]
        assert models[0] == {
            "provider": "local",
            "model": "SmolLM2-135M-Instruct.Q4_1",
            "enabled": True,
            "context_window": 8192,
        }
        assert {"provider": "groq", "enabled": False, "enable_with": "GROQ_API_KEY"} in models
        assert (await client.get("/health")).status_code == 200, "ops routes need no key"
        assert (await client.get("/metrics")).status_code == 200

        engine = create_engine(database_url, pool_size=1)
        async with engine.begin() as conn:
            await revoke_key(conn, chat[:12])
        await engine.dispose()
        assert (await client.get("/api/v1/models", headers={"X-API-Key": chat})).status_code == 401


async def test_keys_are_stored_hashed(database_url: str) -> None:
    plain = await _key(database_url, "chat")
    engine = create_engine(database_url, pool_size=1)
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT key_hash, prefix FROM api_keys"))).all()
    await engine.dispose()
    assert all(plain not in (row[0], row[1]) for row in rows)
    assert rows[0][1] == plain[:12]


def test_keys_cli_create_list_revoke(database_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": database_url, "DATA_DIR": str(tmp_path)}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "app", "keys", *args],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    created = json.loads(run("--json", "create", "--name", "reporting", "--scopes", "chat,docs:write").stdout)
    assert created["key"].startswith("pgw_")
    assert created["scopes"] == ["chat", "docs:write"]
    listed = json.loads(run("--json", "list").stdout)
    assert [k["name"] for k in listed] == ["reporting"]
    assert created["key"] not in json.dumps(listed), "the key itself is never listed"
    assert run("revoke", created["id"]).returncode == 0
    assert json.loads(run("--json", "list").stdout)[0]["revoked_at"] is not None
    again = run("revoke", created["id"])
    assert again.returncode == 2
    assert "not_found" in again.stderr
    bad = run("create", "--name", "x", "--scopes", "superuser")
    assert (bad.returncode, "invalid_scopes" in bad.stderr) == (2, True)
