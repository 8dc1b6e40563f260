"""PDFs are read in a child process with bounded memory and time, so no file can take the service down.

A 2,755-byte PDF whose content stream is Flate inside Flate inflates to 1.2 GB: read in the
API process, it took a worker from 1.4 to 3.2 GB. PDFium decodes streams where we cannot
reach, so the bound is put around it: the child's address space is limited (``RLIMIT_AS``,
``PARSE_MEMORY_MB``), each page must be read within ``PARSE_PAGE_SECONDS`` and the whole file
within ``PARSE_DOCUMENT_SECONDS``. A child that runs out of memory, crashes or overruns is
killed and the upload refused with ``pdf_too_complex``; the next file gets a new child.

The child (``python -m app.ingest.sandbox``) lives as long as its parent uses it and is reused
between files: it costs ~0.15 s to start. It speaks JSON lines on its stdout (never pickle: a
child that PDFium's bugs might let a file take over must not be able to run code in the API).
One file at a time per child, which PDFium needs anyway (it is not thread-safe).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import select
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

from app.core.errors import InvalidInput
from app.ingest.pdf import ParsedPdf, assemble, read_pages

TOO_COMPLEX = "pdf_too_complex"
STARTUP_SECONDS = 30.0


@dataclass(frozen=True)
class ParseLimits:
    max_pages: int = 2000
    memory_mb: int = 512
    page_seconds: float = 20.0
    document_seconds: float = 300.0


class _ChildFailed(Exception):
    """The child died, overran or spoke nonsense: it is killed, and the file refused."""


class _Child:
    def __init__(self, memory_mb: int) -> None:
        self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "app.ingest.sandbox", str(memory_mb)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self._buffer = bytearray()
        try:  # the child says when it is ready, so its start does not count against a file's time
            ready = self.receive(STARTUP_SECONDS).get("ready")
        except _ChildFailed:
            ready = False
        if not ready:
            self.kill()
            raise RuntimeError(
                f"the PDF reader (python -m app.ingest.sandbox) did not start within {STARTUP_SECONDS} s"
            )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def send(self, header: dict[str, Any], data: bytes) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(header).encode() + b"\n" + data)
            self.proc.stdin.flush()
        except OSError as exc:
            raise _ChildFailed("the reader stopped before the file was sent") from exc

    def receive(self, timeout: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while (end := self._buffer.find(b"\n")) < 0:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise _ChildFailed("timeout")
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                raise _ChildFailed("exited")
            self._buffer += chunk
        line = bytes(self._buffer[:end])
        del self._buffer[: end + 1]
        try:
            message: dict[str, Any] = json.loads(line)
        except ValueError as exc:
            raise _ChildFailed("garbled") from exc
        return message

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()


class PdfParser:
    """Reads PDFs through one reusable child process; thread-safe (calls are serialised)."""

    def __init__(self, limits: ParseLimits) -> None:
        self.limits = limits
        self._child: _Child | None = None
        self._lock = threading.Lock()

    def parse(self, data: bytes, *, name: str) -> ParsedPdf:
        with self._lock:
            if self._child is None or not self._child.alive():
                self.close_child()
                self._child = _Child(self.limits.memory_mb)
            try:
                return self._read(self._child, data, name)
            except _ChildFailed as exc:
                self.close_child()
                raise self._refusal(name, str(exc)) from None

    def _read(self, child: _Child, data: bytes, name: str) -> ParsedPdf:
        limits = self.limits
        deadline = time.monotonic() + limits.document_seconds
        child.send({"size": len(data), "max_pages": limits.max_pages, "name": name}, data)
        page_count = 0
        texts: list[tuple[int, str]] = []
        while True:
            left = deadline - time.monotonic()
            message = child.receive(
                min(limits.page_seconds, left) if page_count else min(limits.document_seconds, left)
            )
            if "pages" in message:
                page_count = int(message["pages"])
            elif "page" in message:
                texts.append((int(message["page"]), str(message["text"])))
            elif "error" in message:
                if message["error"] == TOO_COMPLEX:
                    raise _ChildFailed("memory")
                raise InvalidInput(str(message["message"]), code=str(message["error"]))
            elif message.get("done"):
                return assemble(data, page_count, texts, name=name)
            else:
                raise _ChildFailed("garbled")

    def _refusal(self, name: str, why: str) -> InvalidInput:
        limits = self.limits
        if why == "timeout":
            detail = (
                f"reading it took longer than {limits.page_seconds:g} s for one page or "
                f"{limits.document_seconds:g} s in all (PARSE_PAGE_SECONDS, PARSE_DOCUMENT_SECONDS)"
            )
        else:
            detail = (
                f"reading it needed more than {limits.memory_mb} MB (PARSE_MEMORY_MB) or stopped the reader; "
                "a small file that inflates that far is built to exhaust memory (a decompression bomb), or damaged"
            )
        return InvalidInput(
            f"{name} was refused: {detail}. If it is a genuine document, save it again from its source "
            "(print to PDF) and upload that.",
            code=TOO_COMPLEX,
        )

    def close_child(self) -> None:
        if self._child is not None:
            self._child.kill()
            self._child = None


_PARSERS: dict[ParseLimits, PdfParser] = {}
_PARSERS_LOCK = threading.Lock()


def parse_pdf(data: bytes, *, limits: ParseLimits | None = None, name: str = "file") -> ParsedPdf:
    """Every page's text, read in the sandbox; InvalidInput with a stable code for what cannot be read."""
    limits = limits or ParseLimits()
    with _PARSERS_LOCK:
        parser = _PARSERS.get(limits)
        if parser is None:
            parser = _PARSERS[limits] = PdfParser(limits)
    return parser.parse(data, name=name)


@atexit.register
def _close_children() -> None:
    for parser in _PARSERS.values():
        parser.close_child()


def _serve(memory_mb: int) -> None:
    """The child: read requests from stdin, answer JSON lines on stdout, until stdin closes."""
    import resource

    import pypdfium2  # noqa: F401 - loaded before the limit, so the limit bounds the work, not the library

    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    source, out = sys.stdin.buffer, sys.stdout.buffer

    def say(message: dict[str, Any]) -> None:
        out.write(json.dumps(message).encode() + b"\n")
        out.flush()

    say({"ready": True})
    while header := source.readline():
        request = json.loads(header)
        data = source.read(request["size"])
        try:
            for item in read_pages(data, max_pages=request["max_pages"], name=request["name"]):
                say({"pages": item} if isinstance(item, int) else {"page": item[0], "text": item[1]})
            say({"done": True})
        except InvalidInput as exc:
            say({"error": exc.code, "message": exc.message})
        except MemoryError:
            say({"error": TOO_COMPLEX, "message": "out of memory"})
            return  # the heap may be in any state: the parent starts a new child


if __name__ == "__main__":
    _serve(int(sys.argv[1]))
