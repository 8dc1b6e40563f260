"""A scriptable HTTP server on 127.0.0.1 for real SDK clients: routes, recorded requests, injected faults.

Faults queue up and are served before the route's normal answer: a status with headers and body,
a delay, or a dropped connection. Routes return JSON (or raw bytes for streaming protocols).
"""

from __future__ import annotations

import base64
import json
import re
import socket
import struct
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class StreamBody:
    """A body written piece by piece (SSE); ``drop_after`` pieces, the connection is cut mid-stream."""

    pieces: list[bytes]
    content_type: str = "text/event-stream"
    delay: float = 0.0
    drop_after: int | None = None


@dataclass
class Fault:
    status: int = 500
    body: Any = field(default_factory=lambda: {"error": {"message": "injected failure", "type": "server_error"}})
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False


Route = Callable[[Recorded, re.Match[str]], tuple[int, Any]]


def sse(events: list[Any], done: bool = True) -> list[bytes]:
    """Server-sent events as OpenAI writes them: ``data: <json>`` blocks, then ``data: [DONE]``."""
    pieces = [b"data: " + (e if isinstance(e, bytes) else json.dumps(e).encode()) + b"\n\n" for e in events]
    return pieces + ([b"data: [DONE]\n\n"] if done else [])


class _Server(ThreadingHTTPServer):
    # socketserver's default listen backlog is 5: a burst of new connections would overflow it and
    # wait a full second for the SYN to be retransmitted
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        # a client closing its keep-alive connection (or cutting a stream) is not a server error
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FakeServer:
    """``with FakeServer() as server: server.route("POST", r"/v1/x", handler)``."""

    def __init__(self) -> None:
        self.routes: list[tuple[str, re.Pattern[str], Route]] = []
        self.requests: list[Recorded] = []
        self.faults: deque[Fault] = deque()
        self.latency = 0.0
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: Any) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                # headers and body are separate writes: without this, Nagle + delayed ACK add ~40 ms
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body: Any = json.loads(raw) if raw else None
                except ValueError:
                    body = raw
                record = Recorded(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                with outer._lock:
                    outer.requests.append(record)
                    fault = outer.faults.popleft() if outer.faults else None
                if outer.latency:
                    time.sleep(outer.latency)
                if fault is not None:
                    time.sleep(fault.delay)
                    if fault.drop:
                        self.close_connection = True
                        self.connection.close()
                        return
                    self._send(fault.status, fault.body, fault.headers)
                    return
                for method, pattern, route in outer.routes:
                    match = pattern.fullmatch(self.path.split("?", 1)[0])
                    if method == self.command and match:
                        status, payload = route(record, match)
                        if isinstance(payload, StreamBody):
                            self._stream(status, payload)
                        else:
                            self._send(status, payload, {})
                        return
                self._send(404, {"error": {"message": f"no route for {self.command} {self.path}"}}, {})

            def _stream(self, status: int, body: StreamBody) -> None:
                # chunked on a keep-alive connection, as the real providers stream
                self.send_response(status)
                self.send_header("content-type", body.content_type)
                self.send_header("transfer-encoding", "chunked")
                self.end_headers()
                for i, piece in enumerate(body.pieces):
                    if body.drop_after is not None and i == body.drop_after:
                        self.close_connection = True
                        self.connection.shutdown(2)
                        return
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                    self.wfile.flush()
                    if body.delay:
                        time.sleep(body.delay)
                self.wfile.write(b"0\r\n\r\n")

            def _send(self, status: int, payload: Any, headers: dict[str, str]) -> None:
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", headers.pop("content-type", "application/json"))
                self.send_header("content-length", str(len(data)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _serve

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def route(self, method: str, pattern: str, handler: Route) -> None:
        self.routes.append((method, re.compile(pattern), handler))

    def fail(self, *faults: Fault) -> None:
        with self._lock:
            self.faults.extend(faults)

    def __enter__(self) -> FakeServer:
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._server.shutdown()
        self._server.server_close()


def fake_vector(text: str, dim: int) -> list[float]:
    """A deterministic vector per text, so equal texts embed equally."""
    seed = sum(ord(c) * (i + 1) for i, c in enumerate(text)) or 1
    return [((seed * (i + 7)) % 997) / 997.0 for i in range(dim)]


def _b64(vector: list[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


def openai_embeddings_server(server: FakeServer, default_dim: int = 1536) -> FakeServer:
    """OpenAI's ``POST /v1/embeddings``."""

    def embeddings(request: Recorded, _: re.Match[str]) -> tuple[int, Any]:
        inputs = request.body["input"]
        inputs = [inputs] if isinstance(inputs, str) else inputs
        dim = request.body.get("dimensions") or default_dim
        as_base64 = request.body.get("encoding_format") == "base64"  # float32 little-endian, as OpenAI sends it
        data = [
            {
                "object": "embedding",
                "index": i,
                "embedding": _b64(fake_vector(t, dim)) if as_base64 else fake_vector(t, dim),
            }
            for i, t in enumerate(inputs)
        ]
        usage = {
            "prompt_tokens": sum(len(t.split()) for t in inputs),
            "total_tokens": sum(len(t.split()) for t in inputs),
        }
        return 200, {"object": "list", "data": data, "model": request.body["model"], "usage": usage}

    server.route("POST", r"/v1/embeddings", embeddings)
    return server


def gemini_embeddings_server(server: FakeServer, default_dim: int = 3072) -> FakeServer:
    """Gemini's ``POST /v1[beta]/models/{model}:batchEmbedContents``."""

    def batch(request: Recorded, _: re.Match[str]) -> tuple[int, Any]:
        out = []
        for item in request.body["requests"]:
            text_ = " ".join(part.get("text", "") for part in item["content"]["parts"])
            dim = item.get("outputDimensionality") or default_dim
            out.append({"values": fake_vector(text_, dim)})
        return 200, {"embeddings": out}

    server.route("POST", r"/v1(?:beta)?/models/([^/:]+):batchEmbedContents", batch)
    return server


@dataclass
class ChatScript:
    """How the fake chat endpoint answers next: text, and optionally a drop or malformed chunk mid-stream."""

    text: str = "The answer is on page 3."
    drop_after_words: int | None = None
    malformed_after_words: int | None = None
    delay: float = 0.0
    finish_reason: str = "stop"


def openai_chat_server(
    server: FakeServer, path: str = r"/v1/chat/completions", *, x_groq: bool = False
) -> list[ChatScript]:
    """OpenAI-compatible chat completions (OpenAI, Groq, OpenRouter), JSON or SSE; returns the script queue.

    With ``x_groq`` the last chunk carries usage the way Groq sends it (``x_groq.usage``)."""
    scripts: list[ChatScript] = []

    def chat(request: Recorded, _: re.Match[str]) -> tuple[int, Any]:
        script = scripts.pop(0) if scripts else ChatScript()
        words = script.text.split(" ")
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in request.body["messages"])
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(words),
            "total_tokens": prompt_tokens + len(words),
        }
        base = {"id": "chatcmpl-fake", "created": 1, "model": request.body["model"]}
        if not request.body.get("stream"):
            message = {"role": "assistant", "content": script.text}
            choice = {"index": 0, "message": message, "finish_reason": script.finish_reason}
            return 200, {**base, "object": "chat.completion", "choices": [choice], "usage": usage}
        events: list[Any] = []
        for i, word in enumerate(words):
            if script.malformed_after_words == i:
                events.append(b"{not json")
            delta = {"content": word if i == 0 else " " + word}
            if i == 0:
                delta["role"] = "assistant"
            events.append(
                {
                    **base,
                    "object": "chat.completion.chunk",
                    "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
                }
            )
        last = {"index": 0, "delta": {}, "finish_reason": script.finish_reason}
        final: dict[str, Any] = {**base, "object": "chat.completion.chunk", "choices": [last]}
        if x_groq:
            final["x_groq"] = {"id": "req_fake", "usage": usage}
        events.append(final)
        if (request.body.get("stream_options") or {}).get("include_usage"):
            events.append({**base, "object": "chat.completion.chunk", "choices": [], "usage": usage})
        drop = None if script.drop_after_words is None else script.drop_after_words
        return 200, StreamBody(sse(events), delay=script.delay, drop_after=drop)

    server.route("POST", path, chat)
    return scripts


def gemini_chat_server(server: FakeServer) -> list[ChatScript]:
    """Gemini's ``POST /v1[beta]/models/{model}:streamGenerateContent?alt=sse`` (and the JSON form)."""
    scripts: list[ChatScript] = []

    def generate(request: Recorded, match: re.Match[str]) -> tuple[int, Any]:
        script = scripts.pop(0) if scripts else ChatScript()
        words = script.text.split(" ")
        reason = {"stop": "STOP", "length": "MAX_TOKENS"}.get(script.finish_reason, script.finish_reason)
        usage = {"promptTokenCount": 12, "candidatesTokenCount": len(words), "totalTokenCount": 12 + len(words)}
        events: list[Any] = []
        for i, word in enumerate(words):
            if script.malformed_after_words == i:
                events.append(b"{not json")
            part = {"text": word if i == 0 else " " + word}
            events.append(
                {
                    "candidates": [{"content": {"role": "model", "parts": [part]}, "index": 0}],
                    "modelVersion": match.group(1),
                }
            )
        events.append(
            {
                "candidates": [
                    {"content": {"role": "model", "parts": [{"text": ""}]}, "finishReason": reason, "index": 0}
                ],
                "usageMetadata": usage,
            }
        )
        return 200, StreamBody(sse(events, done=False), delay=script.delay, drop_after=script.drop_after_words)

    server.route("POST", r"/v1(?:beta)?/models/([^/:]+):streamGenerateContent", generate)
    return scripts
