"""/api/v1/docs and /api/v1/jobs: manage the corpus over HTTP, without shell access.

Uploads are multipart (``file``, optional ``title``, ``author``, ``tags`` as a comma-separated
field). The body is counted as it streams in and refused with 413 the moment it passes the
limit: a large upload is never buffered whole. Ingestion runs in the job worker; the 202 response
names the document, its version and the job to poll.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import ConfigDict, Field
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from app.api.deps import ChatKey, DocsWriteKey, EngineDep, JobsKey, ResourcesDep
from app.api.inputs import ApiModel
from app.core.errors import InvalidInput, NotFound, PayloadTooLarge
from app.ingest.uploads import Accepted, clean_file_name, clean_tags, clean_text
from app.store import catalog, jobs

router = APIRouter(prefix="/api/v1", tags=["documents"])

FORM_SLACK = 64 * 1024  # multipart headers and the small text fields, on top of the file itself
DocId = Annotated[uuid.UUID, Path(description="The document's id")]
INT32_MAX = 2**31 - 1  # versions are PostgreSQL INTEGERs; a larger number is a 422, not a database error


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"The upload is larger than the {limit / 1_000_000:g} MB limit (MAX_UPLOAD_MB). Split or compress the PDF.",
        code="file_too_large",
        details={"limit_bytes": limit},
    )


async def _read_upload(request: Request, limit: int) -> tuple[bytes, str, dict[str, str]]:
    """The file's bytes, its name and the text fields, never reading more than ``limit`` plus slack."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + FORM_SLACK:
        raise _too_large(limit)
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise InvalidInput("Send the PDF as multipart/form-data with a `file` field.", code="multipart_required")

    async def counted() -> AsyncGenerator[bytes, None]:
        seen = 0
        async for chunk in request.stream():
            seen += len(chunk)
            if seen > limit + FORM_SLACK:
                raise _too_large(limit)
            yield chunk

    parser = MultiPartParser(request.headers, counted(), max_files=1, max_fields=10, max_part_size=FORM_SLACK)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise InvalidInput(f"The multipart body cannot be read: {exc.message}", code="invalid_multipart") from exc
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidInput("The form has no `file` field holding the PDF.", code="file_missing")
        data = await upload.read(limit + 1)
        if len(data) > limit:
            raise _too_large(limit)
        fields = {k: v for k, v in form.multi_items() if isinstance(v, str)}
        return data, upload.filename or "", fields
    finally:
        await form.close()


def _accepted_response(accepted: Accepted) -> JSONResponse:
    body = {
        "document_id": str(accepted.document_id),
        "version": accepted.version,
        "job_id": str(accepted.job_id) if accepted.job_id else None,
        "status": accepted.status,
    }
    headers = {"Location": f"/api/v1/jobs/{accepted.job_id}"} if accepted.job_id else {}
    return JSONResponse(body, status_code=202 if accepted.status == "queued" else 200, headers=headers)


def _metadata(fields: dict[str, str]) -> dict[str, Any]:
    tags = fields.get("tags")
    return {
        "title": clean_text(fields.get("title"), "title", 500),
        "author": clean_text(fields.get("author"), "author", 200),
        "tags": clean_tags(tags.split(",")) if tags is not None else None,
    }


@router.post("/docs", status_code=202, summary="Upload a PDF: a new document, ingested by a background job")
async def upload(request: Request, key: DocsWriteKey, resources: ResourcesDep) -> JSONResponse:
    data, raw_name, fields = await _read_upload(request, resources.settings.max_upload_bytes)
    accepted = await resources.uploads.accept(
        data, file_name=clean_file_name(raw_name), created_by=key.id, **_metadata(fields)
    )
    return _accepted_response(accepted)


@router.put("/docs/{document_id}", status_code=202, summary="Upload a new version: only changed pages are re-embedded")
async def new_version(document_id: DocId, request: Request, key: DocsWriteKey, resources: ResourcesDep) -> JSONResponse:
    data, raw_name, fields = await _read_upload(request, resources.settings.max_upload_bytes)
    accepted = await resources.uploads.accept(
        data, file_name=clean_file_name(raw_name), document_id=document_id, created_by=key.id, **_metadata(fields)
    )
    return _accepted_response(accepted)


@router.get("/docs", summary="List documents (filters: tag, author, include_deleted; paginated)")
async def list_documents(
    _: ChatKey,
    engine: EngineDep,
    tag: Annotated[str | None, Query(max_length=64)] = None,
    author: Annotated[str | None, Query(max_length=200)] = None,
    include_deleted: bool = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=INT32_MAX)] = 0,
) -> dict[str, Any]:
    async with engine.connect() as conn:
        found, total = await catalog.list_documents(
            conn, tag=tag, author=author, include_deleted=include_deleted, limit=limit, offset=offset
        )
    return {"documents": [d.as_json() for d in found], "total": total, "limit": limit, "offset": offset}


async def _info(engine: Any, document_id: uuid.UUID) -> catalog.DocumentInfo:
    async with engine.connect() as conn:
        info = await catalog.get_info(conn, document_id)
    if info is None:
        raise NotFound(f"No document {document_id}. List them with GET /api/v1/docs.")
    return info


@router.get("/docs/{document_id}", summary="A document's metadata")
async def get_document(document_id: DocId, _: ChatKey, engine: EngineDep) -> dict[str, Any]:
    return (await _info(engine, document_id)).as_json()


@router.get("/docs/{document_id}/versions", summary="Every version of a document, oldest first")
async def list_versions(document_id: DocId, _: ChatKey, engine: EngineDep) -> dict[str, Any]:
    info = await _info(engine, document_id)
    async with engine.connect() as conn:
        versions = await catalog.versions_of(conn, document_id, info.version)
    return {"document_id": str(document_id), "versions": versions}


@router.get("/docs/{document_id}/versions/{version}/file", summary="Download the original PDF of a version")
async def download(
    document_id: DocId, version: Annotated[int, Path(ge=1, le=INT32_MAX)], _: ChatKey, engine: EngineDep
) -> Response:
    async with engine.connect() as conn:
        stored = await catalog.version_file(conn, document_id, version)
    if stored is None:
        raise NotFound(f"Document {document_id} has no version {version}. See GET /api/v1/docs/{document_id}/versions.")
    file_name, data = stored
    ascii_name = file_name.encode("ascii", "replace").decode().replace('"', "'").replace("?", "_")
    disposition = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(file_name)}"
    return Response(data, media_type="application/pdf", headers={"Content-Disposition": disposition})


class DocumentPatch(ApiModel):
    model_config = ConfigDict(extra="forbid")
    title: str | None = Field(None, max_length=500)
    author: str | None = Field(None, max_length=200)
    tags: list[str] | None = Field(None, max_length=50)


@router.patch("/docs/{document_id}", summary="Edit title, author, tags (no re-embedding; tag filters apply at once)")
async def patch_document(document_id: DocId, body: DocumentPatch, _: DocsWriteKey, engine: EngineDep) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if "title" in body.model_fields_set:
        changes["title"] = clean_text(body.title, "title", 500)
    if "author" in body.model_fields_set:
        changes["author"] = clean_text(body.author, "author", 200)
    if "tags" in body.model_fields_set:
        changes["tags"] = clean_tags(body.tags or [])
    if not changes:
        raise InvalidInput("Nothing to change: send at least one of `title`, `author`, `tags`.", code="empty_patch")
    async with engine.begin() as conn:
        if not await catalog.update_metadata(conn, document_id, changes):
            raise NotFound(f"No document {document_id}. List them with GET /api/v1/docs.")
    return (await _info(engine, document_id)).as_json()


async def _set_deleted(engine: Any, document_id: uuid.UUID, deleted: bool) -> dict[str, Any]:
    async with engine.begin() as conn:
        if not await catalog.set_deleted(conn, document_id, deleted):
            raise NotFound(f"No document {document_id}. List them with GET /api/v1/docs.")
    return (await _info(engine, document_id)).as_json()


@router.delete("/docs/{document_id}", summary="Soft delete: out of retrieval at once; rows and files kept")
async def delete_document(document_id: DocId, _: DocsWriteKey, engine: EngineDep) -> dict[str, Any]:
    return await _set_deleted(engine, document_id, True)


@router.post("/docs/{document_id}/restore", summary="Bring a soft-deleted document back into retrieval")
async def restore_document(document_id: DocId, _: DocsWriteKey, engine: EngineDep) -> dict[str, Any]:
    return await _set_deleted(engine, document_id, False)


@router.get("/jobs/{job_id}", summary="An ingestion job: queued, running (pages done/total), succeeded or failed")
async def get_job(job_id: Annotated[uuid.UUID, Path()], _: JobsKey, engine: EngineDep) -> dict[str, Any]:
    async with engine.connect() as conn:
        job = await jobs.get_job(conn, job_id)
    if job is None:
        raise NotFound(f"No ingestion job {job_id}.")
    return {
        "id": str(job.id),
        "document_id": str(job.document_id),
        "version": job.version,
        "status": job.status,
        "pages_done": job.pages_done,
        "pages_total": job.pages_total,
        "attempts": job.attempts,
        "error": {"code": job.error_code, "message": job.error} if job.status == "failed" else None,
        "result": job.result,
        "created_at": job.created_at.isoformat(),
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }
