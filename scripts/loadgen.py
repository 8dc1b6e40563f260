"""A lean HTTP/1.1 load generator for the benchmarks: one keep-alive connection per client.

httpx spends ~2 ms of CPU per request; on a 2-core machine shared with the server, that is CPU the
server under test cannot use, and the figures would measure the client. This client writes a
prepared request and parses just the status line, Content-Length or chunked framing: ~0.1 ms.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float  # request written -> last byte read
    first_token: float | None = None  # request written -> first SSE token event, when streaming


class Connection:
    """One keep-alive HTTP/1.1 connection to ``host:port``."""

    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        self.host, self.port = host, port
        self.base = "".join(f"{k}: {v}\r\n" for k, v in {"Host": f"{host}:{port}", **headers}.items())
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> Connection:
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        return self

    async def __aexit__(self, *_: Any) -> None:
        if self._writer is not None:
            self._writer.close()

    async def post(self, path: str, payload: Any) -> Reply:
        body = json.dumps(payload).encode()
        head = (
            f"POST {path} HTTP/1.1\r\n{self.base}Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        assert self._reader is not None, "use `async with Connection(...)`"
        assert self._writer is not None
        started = time.perf_counter()
        self._writer.write(head.encode() + body)
        raw = await self._reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        first_token = None
        if "content-length" in headers:
            data = await self._reader.readexactly(int(headers["content-length"]))
        else:  # chunked (SSE): note when the first token event arrives
            parts = []
            while True:
                size = int((await self._reader.readuntil(b"\r\n")).strip(), 16)
                chunk = await self._reader.readexactly(size + 2)
                if size == 0:
                    break
                parts.append(chunk[:-2])
                if first_token is None and b"event: token" in chunk:
                    first_token = time.perf_counter() - started
            data = b"".join(parts)
        if headers.get("connection", "").lower() == "close":
            await self.__aexit__()
            await self.__aenter__()
        return Reply(status, headers, data, time.perf_counter() - started, first_token)


async def closed_loop(
    host: str, port: int, headers: dict[str, str], requests: list[tuple[str, Any]], clients: int
) -> tuple[list[Reply], float]:
    """``clients`` connections, each sending its next request as soon as the last answer arrived.
    Returns the replies and the elapsed seconds."""
    queue = list(reversed(requests))
    replies: list[Reply] = []

    async def client() -> None:
        async with Connection(host, port, headers) as conn:
            while queue:
                path, payload = queue.pop()
                replies.append(await conn.post(path, payload))

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return replies, time.perf_counter() - started
