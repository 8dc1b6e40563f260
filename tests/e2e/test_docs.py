"""/api/v1/docs and /api/v1/jobs over HTTP: the real app, embedded PostgreSQL, MiniLM, the job worker,
and the openai SDK against a fake OpenAI server for the chat questions asked of the uploaded content."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from app.auth.keys import create_key
from app.embed.base import Embedder
from app.rag.prompt import NO_ANSWER
from app.settings import Settings
from app.store.db import create_engine
from tests.helpers.fake_server import FakeServer, openai_chat_server
from tests.helpers.pdfs import SMALL_PDF, make_pdf

V1 = ["Project Falcon overview. The team meets on Tuesdays.", "The launch code of project Falcon is 4417."]
V2 = [V1[0], "The launch code of project Falcon is 9902."]
QUESTION = "What is the launch code of project Falcon?"


async def _keys(database_url: str) -> tuple[dict[str, str], dict[str, str]]:
    engine = create_engine(database_url, pool_size=1)
    async with engine.begin() as conn:
        _, writer = await create_key(conn, "writer", ["docs:write", "chat"])
        _, reader = await create_key(conn, "reader", ["chat"])
    await engine.dispose()
    return {"Authorization": f"Bearer {writer}"}, {"X-API-Key": reader}


@pytest.fixture
async def docs_app(
    app_client: Callable[..., Any], database_url: str, minilm: Embedder
) -> AsyncIterator[tuple[httpx.AsyncClient, FakeServer, dict[str, str], dict[str, str]]]:
    writer, reader = await _keys(database_url)
    with FakeServer() as server:
        openai_chat_server(server)
        overrides = {
            "llm_order": ["openai"],
            "openai_api_key": "sk-test",
            "openai_base_url": server.url + "/v1",
            "llm_retries": 0,
            "max_upload_mb": 0.2,
        }
        async with app_client(**overrides) as client:
            yield client, server, writer, reader


def _file(data: bytes, name: str = "falcon.pdf", **fields: str) -> dict[str, Any]:
    return {"files": {"file": (name, data, "application/pdf")}, "data": fields}


async def _finished(client: httpx.AsyncClient, job_id: str, headers: dict[str, str]) -> dict[str, Any]:
    for _ in range(600):
        job: dict[str, Any] = (await client.get(f"/api/v1/jobs/{job_id}", headers=headers)).json()
        if job["status"] in ("succeeded", "failed"):
            return job
        await asyncio.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish: {job}")


async def _ask(
    client: httpx.AsyncClient, server: FakeServer, headers: dict[str, str], **filters: Any
) -> tuple[str, Any]:
    body: dict[str, Any] = {"question": QUESTION}
    if filters:
        body["filters"] = filters
    response = await client.post("/api/v1/chat?stream=false", json=body, headers=headers)
    assert response.status_code == 200, response.text
    prompt = [r for r in server.requests if r.path.endswith("/chat/completions")][-1].body["messages"][-1]["content"]
    return prompt, response.json()


async def test_upload_answer_new_version_metadata_soft_delete_and_restore(docs_app: Any) -> None:
    client, server, writer, reader = docs_app
    v1 = make_pdf(V1)
    created = await client.post(
        "/api/v1/docs", headers=writer, **_file(v1, title="Falcon", author="Ops", tags="falcon, secret")
    )
    assert created.status_code == 202, created.text
    accepted = created.json()
    assert accepted["version"] == 1
    assert accepted["status"] == "queued"
    assert created.headers["location"] == f"/api/v1/jobs/{accepted['job_id']}"
    doc_id = accepted["document_id"]
    job = await _finished(client, accepted["job_id"], reader)
    assert job["status"] == "succeeded", job
    assert (job["pages_done"], job["pages_total"]) == (2, 2)
    assert job["result"]["pages_embedded"] == 2

    prompt, answer = await _ask(client, server, reader)
    assert "4417" in prompt
    cited = {(c["document_id"], c["version"], c["page"]) for c in answer["citations"]}
    assert (doc_id, 1, 2) in cited, "the new page is cited with its document and version"

    v2 = make_pdf(V2)
    updated = await client.put(f"/api/v1/docs/{doc_id}", headers=writer, **_file(v2, "falcon-v2.pdf"))
    assert updated.status_code == 202, updated.text
    assert updated.json()["version"] == 2
    job2 = await _finished(client, updated.json()["job_id"], reader)
    assert job2["status"] == "succeeded", job2
    assert (job2["result"]["pages_embedded"], job2["result"]["pages_reused"]) == (1, 1), "only the changed page"
    await asyncio.sleep(1.1)  # the answer cache sees a document change within 1 s
    prompt, answer = await _ask(client, server, reader)
    assert "9902" in prompt
    assert "4417" not in prompt, "the old version no longer answers"
    assert (doc_id, 2, 2) in {(c["document_id"], c["version"], c["page"]) for c in answer["citations"]}

    info = (await client.get(f"/api/v1/docs/{doc_id}", headers=reader)).json()
    assert info["version"] == 2
    assert info["status"] == "ready"
    assert (info["title"], info["author"], info["tags"]) == ("Falcon", "Ops", ["falcon", "secret"])
    assert (info["page_count"], info["file_size"]) == (2, len(v2))
    assert info["content_hash"] == hashlib.sha256(v2).hexdigest()
    assert info["file_name"] == "falcon.pdf"
    versions = (await client.get(f"/api/v1/docs/{doc_id}/versions", headers=reader)).json()["versions"]
    assert [(v["version"], v["current"], v["file_name"]) for v in versions] == [
        (1, False, "falcon.pdf"),
        (2, True, "falcon-v2.pdf"),
    ]
    original = await client.get(f"/api/v1/docs/{doc_id}/versions/1/file", headers=reader)
    assert original.content == v1, "every version's original stays downloadable"
    assert original.headers["content-type"] == "application/pdf"
    assert 'filename="falcon.pdf"' in original.headers["content-disposition"]
    assert (await client.get(f"/api/v1/docs/{doc_id}/versions/3/file", headers=reader)).status_code == 404

    patched = await client.patch(
        f"/api/v1/docs/{doc_id}", headers=writer, json={"tags": ["falcon"], "title": "Falcon 2"}
    )
    assert patched.json()["tags"] == ["falcon"]
    assert patched.json()["title"] == "Falcon 2"
    _, answer = await _ask(client, server, reader, tags=["secret"])
    assert answer["citations"] == [], "a removed tag stops matching at once, with no re-embedding"
    assert answer["answer"] == NO_ANSWER

    deleted = await client.delete(f"/api/v1/docs/{doc_id}", headers=writer)
    assert deleted.json()["status"] == "deleted"
    await asyncio.sleep(1.1)
    _, answer = await _ask(client, server, reader)
    assert answer["citations"] == [], "a deleted document is out of retrieval"
    assert answer["answer"] == NO_ANSWER
    listed = (await client.get("/api/v1/docs", headers=reader)).json()
    assert listed["total"] == 0
    with_deleted = (await client.get("/api/v1/docs?include_deleted=true", headers=reader)).json()
    assert [d["id"] for d in with_deleted["documents"]] == [doc_id]
    assert (await client.get(f"/api/v1/docs/{doc_id}/versions/2/file", headers=reader)).status_code == 200

    restored = await client.post(f"/api/v1/docs/{doc_id}/restore", headers=writer)
    assert restored.json()["status"] == "ready"
    await asyncio.sleep(1.1)
    prompt, _ = await _ask(client, server, reader)
    assert "9902" in prompt
    by_tag = (await client.get("/api/v1/docs?tag=falcon&author=Ops", headers=reader)).json()
    assert by_tag["total"] == 1
    assert (await client.get("/api/v1/docs?tag=other", headers=reader)).json()["total"] == 0


async def test_scopes_duplicates_and_unchanged_versions(docs_app: Any) -> None:
    client, _, writer, reader = docs_app
    data = make_pdf(["A page about scopes and keys."])
    assert (await client.post("/api/v1/docs", headers=reader, **_file(data))).status_code == 403
    assert (await client.post("/api/v1/docs", **_file(data))).status_code == 401
    assert (await client.get("/api/v1/docs")).status_code == 401
    first = (await client.post("/api/v1/docs", headers=writer, **_file(data))).json()
    again = await client.post("/api/v1/docs", headers=writer, **_file(data, "renamed.pdf"))
    assert again.status_code == 200
    assert again.json()["status"] == "duplicate"
    assert again.json()["document_id"] == first["document_id"]
    await _finished(client, first["job_id"], reader)
    same = await client.put(f"/api/v1/docs/{first['document_id']}", headers=writer, **_file(data))
    assert same.status_code == 200
    assert (same.json()["status"], same.json()["version"]) == ("unchanged", 1)
    patch = await client.patch(f"/api/v1/docs/{first['document_id']}", headers=reader, json={"title": "x"})
    assert patch.status_code == 403
    assert (await client.delete(f"/api/v1/docs/{first['document_id']}", headers=reader)).status_code == 403
    missing = "00000000-0000-0000-0000-000000000000"
    assert (await client.get(f"/api/v1/docs/{missing}", headers=reader)).json()["error"]["code"] == "not_found"
    assert (await client.get(f"/api/v1/jobs/{missing}", headers=reader)).status_code == 404
    assert (await client.put(f"/api/v1/docs/{missing}", headers=writer, **_file(data))).status_code == 404
    assert (await client.get("/api/v1/docs/not-a-uuid", headers=reader)).status_code == 422


async def test_concurrent_uploads_of_the_same_file_make_one_document(docs_app: Any) -> None:
    client, _, writer, reader = docs_app
    data = make_pdf(["Concurrency page one.", "Concurrency page two."])
    responses = await asyncio.gather(*(client.post("/api/v1/docs", headers=writer, **_file(data)) for _ in range(6)))
    assert {r.status_code for r in responses} <= {200, 202}
    assert len({r.json()["document_id"] for r in responses}) == 1
    assert sorted(r.json()["status"] for r in responses) == ["duplicate"] * 5 + ["queued"]
    assert (await client.get("/api/v1/docs", headers=reader)).json()["total"] == 1


@pytest.mark.parametrize(
    ("upload", "status", "code"),
    [
        (lambda: _file(b"hello, not a pdf at all" * 10), 422, "not_a_pdf"),
        (lambda: _file(b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\ntruncated"), 422, "pdf_corrupt"),
        (lambda: _file(make_pdf(["Secret"], encrypt_with_password=True)), 422, "pdf_encrypted"),
        (lambda: _file(make_pdf(["", ""])), 422, "pdf_no_text"),
        (lambda: _file(SMALL_PDF.read_bytes() * 3), 413, "file_too_large"),
        (
            lambda: {"data": {"title": "no file"}, "files": {"other": ("x.txt", b"x", "text/plain")}},
            422,
            "file_missing",
        ),
        (lambda: {"content": b"%PDF-1.4", "headers": {"content-type": "application/pdf"}}, 422, "multipart_required"),
        (lambda: _file(make_pdf(["ok"]), "x" * 300 + ".pdf"), 422, "invalid_file_name"),
        (lambda: _file(make_pdf(["ok"]), tags="good,<script>"), 422, "invalid_metadata"),
        (lambda: _file(make_pdf(["ok"]), title="t" * 600), 422, "invalid_metadata"),
    ],
)
async def test_bad_uploads_get_their_own_code_and_write_nothing(
    docs_app: Any, upload: Callable[[], dict[str, Any]], status: int, code: str
) -> None:
    client, _, writer, reader = docs_app
    kwargs = upload()
    headers = {**writer, **kwargs.pop("headers", {})}
    response = await client.post("/api/v1/docs", headers=headers, **kwargs)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"]
    listed = (await client.get("/api/v1/docs?include_deleted=true", headers=reader)).json()
    assert listed["total"] == 0, "a refused upload leaves nothing behind"


async def test_untrusted_file_names_and_patch_validation(docs_app: Any) -> None:
    client, _, writer, reader = docs_app
    data = make_pdf(["Traversal test page."])
    created = await client.post("/api/v1/docs", headers=writer, **_file(data, "../../etc/pass\u202ewd.pdf"))
    doc_id = created.json()["document_id"]
    info = (await client.get(f"/api/v1/docs/{doc_id}", headers=reader)).json()
    assert info["file_name"] == "passwd.pdf"
    empty = await client.patch(f"/api/v1/docs/{doc_id}", headers=writer, json={})
    assert empty.json()["error"]["code"] == "empty_patch"
    unknown = await client.patch(f"/api/v1/docs/{doc_id}", headers=writer, json={"owner": "me"})
    assert unknown.status_code == 422
    bad_tags = await client.patch(f"/api/v1/docs/{doc_id}", headers=writer, json={"tags": ["../x"]})
    assert bad_tags.json()["error"]["code"] == "invalid_metadata"
    cleared = await client.patch(f"/api/v1/docs/{doc_id}", headers=writer, json={"author": None})
    assert cleared.json()["author"] is None


async def test_oversize_declared_length_is_refused_before_the_body_is_read(
    make_settings: Callable[..., Settings], app_client: Callable[..., Any], database_url: str
) -> None:
    writer, _ = await _keys(database_url)
    sent = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        yield (
            b'--abc\r\nContent-Disposition: form-data; name="file"; filename="big.pdf"\r\n'
            b"Content-Type: application/pdf\r\n\r\n%PDF-1.4\n"
        )
        for _ in range(400):  # 400 x 64 KB = 26 MB, if anyone read it all
            sent += 1
            yield b"x" * 65536

    async with app_client(max_upload_mb=1) as client:
        headers = {**writer, "content-type": "multipart/form-data; boundary=abc"}
        response = await client.post("/api/v1/docs", headers=headers, content=body())
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "file_too_large"
    assert sent < 40, f"the upload was refused after about the limit, not after {sent} chunks"
