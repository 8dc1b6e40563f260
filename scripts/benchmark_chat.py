"""/api/v1/chat under load on 127.0.0.1: overhead beyond the LLM, cache hits, SSE first byte.

A real `python -m app serve` (embedded PostgreSQL, three golden PDFs ingested, MiniLM) answers
through the openai SDK from a fake OpenAI-compatible server that replies at once. The provider's
own time is measured directly with the same SDK, and subtracted:
- overhead: chat latency minus a direct provider call (p50, p99), and req/s, with 16 concurrent clients;
- cache hit: p99 of repeated questions;
- SSE: time to the first token event minus the provider's time to its first chunk.

    python scripts/benchmark_chat.py [--quick] [--json]
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import openai
from benchlib import DATASET, ROOT, emit, latency_stats, parser, percentile

from tests.helpers.fake_server import FakeServer, openai_chat_server
from tests.helpers.redis_server import free_port

QUESTIONS = [
    "What is the main contribution of the paper?",
    "Which datasets are used in the evaluation?",
    "What are the limitations discussed by the authors?",
    "How is the model trained?",
    "What results are reported in the tables?",
    "Who are the authors?",
    "What future work is proposed?",
    "What baseline methods are compared?",
]


def start_server(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "serve"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the server did not become ready")


async def provider_times(base_url: str, n: int) -> tuple[list[float], list[float]]:
    """Direct calls to the fake provider with the SDK the app uses: whole call, and first chunk."""
    client = openai.AsyncOpenAI(api_key="sk-bench", base_url=base_url, max_retries=0)
    whole, first = [], []
    for _ in range(n):
        started = time.perf_counter()
        stream = await client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "q"}], stream=True, stream_options={"include_usage": True}
        )
        got_first = False
        async for _chunk in stream:
            if not got_first:
                first.append(time.perf_counter() - started)
                got_first = True
        whole.append(time.perf_counter() - started)
    await client.close()
    return whole, first


async def load(base: str, key: str, total: int, concurrency: int, unique: bool) -> tuple[list[float], float]:
    latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(total):
        queue.put_nowait(i)

    async def client_loop(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            i = queue.get_nowait()
            question = f"{QUESTIONS[i % len(QUESTIONS)]} (variant {i})" if unique else QUESTIONS[i % len(QUESTIONS)]
            started = time.perf_counter()
            response = await client.post("/api/v1/chat?stream=false", json={"question": question})
            latencies.append(time.perf_counter() - started)
            assert response.status_code == 200, response.text

    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=base, headers={"X-API-Key": key}, timeout=60) as client:
        await asyncio.gather(*(client_loop(client) for _ in range(concurrency)))
    return latencies, total / (time.perf_counter() - started)


async def sse_first_token(base: str, key: str, n: int) -> list[float]:
    times = []
    async with httpx.AsyncClient(base_url=base, headers={"X-API-Key": key}, timeout=60) as client:
        for i in range(n):
            started = time.perf_counter()
            async with client.stream(
                "POST", "/api/v1/chat?stream=true", json={"question": f"{QUESTIONS[0]} sse {i}"}
            ) as response:
                async for line in response.aiter_lines():
                    if line.startswith("event: token"):
                        times.append(time.perf_counter() - started)
                        break
    return times


def main() -> None:
    args = parser(__doc__ or "").parse_args()
    total = 96 if args.quick else 480
    manifest = json.loads((DATASET / "manifest.json").read_text())
    files = [DATASET / "documents" / d["file"] for d in sorted(manifest, key=lambda d: d["pages"])[:3]]
    with tempfile.TemporaryDirectory(prefix="pagewise-bench-chat-") as tmp, FakeServer() as llm:
        openai_chat_server(llm)
        port = free_port()
        env = {
            **os.environ,
            "DATA_DIR": tmp,
            "PORT": str(port),
            "LOG_LEVEL": "WARNING",
            "LLM_ORDER": "openai",
            "OPENAI_API_KEY": "sk-bench",
            "OPENAI_BASE_URL": llm.url + "/v1",
            "RATE_LIMIT_PER_KEY": "100000/minute",
            "RATE_LIMIT_PER_IP": "100000/minute",
        }
        env.pop("DATABASE_URL", None)
        env.pop("REDIS_URL", None)
        subprocess.run(
            [sys.executable, "-m", "app", "ingest", *map(str, files), "--json"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
        proc = start_server(env, port)
        try:
            base = f"http://127.0.0.1:{port}"
            key = (Path(tmp) / "api-key").read_text().strip()
            provider_whole, provider_first = asyncio.run(provider_times(llm.url + "/v1", 50))
            asyncio.run(load(base, key, 32, 4, unique=True))  # warm-up: model loads, pools fill
            misses, rps = asyncio.run(load(base, key, total, 16, unique=True))
            asyncio.run(load(base, key, len(QUESTIONS), 1, unique=False))  # fill the cache: the hit run only hits
            hits, hit_rps = asyncio.run(load(base, key, total, 16, unique=False))
            first_token = asyncio.run(sse_first_token(base, key, 40 if args.quick else 100))
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
    provider_p50 = percentile(provider_whole, 0.5) * 1000
    provider_first_p50 = percentile(provider_first, 0.5) * 1000
    miss = latency_stats(misses)
    hit = latency_stats(hits)
    figures = {
        "concurrency": 16,
        "requests": total,
        "provider_call_p50_ms": round(provider_p50, 3),
        "chat_p50_ms": miss["p50_ms"],
        "chat_p99_ms": miss["p99_ms"],
        "overhead_p50_ms": round(miss["p50_ms"] - provider_p50, 3),
        "overhead_p99_ms": round(miss["p99_ms"] - provider_p50, 3),
        "req_per_s": round(rps, 1),
        "cache_hit_p50_ms": hit["p50_ms"],
        "cache_hit_p99_ms": hit["p99_ms"],
        "cache_hit_req_per_s": round(hit_rps, 1),
        "sse_first_token_p50_ms": round(percentile(first_token, 0.5) * 1000, 3),
        "provider_first_chunk_p50_ms": round(provider_first_p50, 3),
        "sse_added_p50_ms": round(percentile(first_token, 0.5) * 1000 - provider_first_p50, 3),
    }
    table = "\n".join(
        [
            f"16 concurrent clients, {total} requests, one worker; fake LLM answers in {provider_p50:.2f} ms (direct SDK call)",
            f"chat (cache miss)   p50 {miss['p50_ms']:.2f} ms  p99 {miss['p99_ms']:.2f} ms  {rps:.0f} req/s"
            f"  -> overhead p50 {figures['overhead_p50_ms']:.2f} ms (target <= 20)",
            f"chat (cache hit)    p50 {hit['p50_ms']:.2f} ms  p99 {hit['p99_ms']:.2f} ms  {hit_rps:.0f} req/s  (target p99 <= 5)",
            f"SSE first token     p50 {figures['sse_first_token_p50_ms']:.2f} ms, provider first chunk {provider_first_p50:.2f} ms"
            f"  -> added {figures['sse_added_p50_ms']:.2f} ms (target <= 5)",
        ]
    )
    emit(args, figures, table)


if __name__ == "__main__":
    main()
