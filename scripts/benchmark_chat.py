"""/api/v1/chat under load on 127.0.0.1: overhead beyond the LLM, cache hits, SSE first token.

A real `python -m app serve` (embedded PostgreSQL, three golden PDFs ingested, MiniLM) answers
through the openai SDK from a fake OpenAI-compatible server, in a process of its own, that replies
at once. The load comes from keep-alive connections driven by scripts/loadgen.py (~0.1 ms of CPU
per request, where httpx spends ~2 ms of the cores the server needs). The provider's own time is
measured directly with the same SDK, and subtracted:
- overhead: chat latency minus a direct provider call (p50, p99), and req/s, with 16 concurrent
  clients and with one; the server's CPU per request tells the ceiling on this machine;
- cache hit: p50/p99 of repeated questions, 16 clients and one;
- SSE: time to the first token event minus the provider's time to its first chunk (one client).

With ``--workers N`` the server runs N worker processes sharing a private redis-server (rate
limits, answer cache), as deployed; by default one worker with in-process state.

    python scripts/benchmark_chat.py [--quick] [--json] [--workers N]
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import openai
from benchlib import DATASET, ROOT, emit, latency_stats, parser, percentile
from loadgen import closed_loop

from tests.helpers.fake_server import FakeServer, openai_chat_server
from tests.helpers.redis_server import RedisServer, free_port

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


def fake_llm(conn: Any) -> None:
    """The fake provider in a process of its own, so that it does not share the server's or the load's GIL."""
    with FakeServer() as llm:
        openai_chat_server(llm)
        conn.send(llm.url)
        conn.recv()  # until the benchmark is done


def cpu_seconds(pid: int, children: bool = True) -> float:
    """User + system CPU so far of a process and (for --workers) its worker processes (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    if not children:
        return own
    kids = [int(k) for t in Path(f"/proc/{pid}/task").iterdir() for k in (t / "children").read_text().split()]
    # the embedded PostgreSQL is a child too; it is not the server's own CPU
    workers = [k for k in kids if "app.main" in _cmdline(k) or "multiprocessing" in _cmdline(k)]
    return own + sum(cpu_seconds(k, children=False) for k in workers)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
    except OSError:
        return ""


def load(port: int, key: str, total: int, clients: int, unique: bool, stream: bool = False) -> tuple[list[Any], float]:
    """``clients`` keep-alive connections in a closed loop; returns the replies and the elapsed seconds."""
    path = f"/api/v1/chat?stream={'true' if stream else 'false'}"
    requests = [
        (
            path,
            {
                "question": f"{QUESTIONS[i % len(QUESTIONS)]} (variant {i} {time.time_ns()})"
                if unique
                else QUESTIONS[i % len(QUESTIONS)]
            },
        )
        for i in range(total)
    ]
    replies, seconds = asyncio.run(closed_loop("127.0.0.1", port, {"X-API-Key": key}, requests, clients))
    bad = [r for r in replies if r.status != 200]
    if bad:
        raise SystemExit(
            f"{len(bad)} of {len(replies)} chat requests failed, e.g. {bad[0].status} {bad[0].body[:300]!r}"
        )
    return replies, seconds


def main() -> None:
    cli = parser(__doc__ or "")
    cli.add_argument("--workers", type=int, default=1, help="worker processes; more than one share a redis-server")
    args = cli.parse_args()
    total = 128 if args.quick else 800
    manifest = json.loads((DATASET / "manifest.json").read_text())
    files = [DATASET / "documents" / d["file"] for d in sorted(manifest, key=lambda d: d["pages"])[:3]]
    ours, theirs = multiprocessing.get_context("spawn").Pipe()
    fake = multiprocessing.get_context("spawn").Process(target=fake_llm, args=(theirs,), daemon=True)
    fake.start()
    llm_url = ours.recv()
    redis = RedisServer().start() if args.workers > 1 else None
    with tempfile.TemporaryDirectory(prefix="pagewise-bench-chat-") as tmp:
        port = free_port()
        env = {
            **os.environ,
            "DATA_DIR": tmp,
            "PORT": str(port),
            "LOG_LEVEL": "WARNING",
            "LLM_ORDER": "openai",
            "OPENAI_API_KEY": "sk-bench",
            "OPENAI_BASE_URL": llm_url + "/v1",
            "RATE_LIMIT_PER_KEY": "10000000/minute",
            "RATE_LIMIT_PER_IP": "10000000/minute",
        }
        env.pop("DATABASE_URL", None)
        if args.database_url:  # else the server starts an embedded PostgreSQL in the temporary DATA_DIR
            env["DATABASE_URL"] = args.database_url
        env.pop("REDIS_URL", None)
        env["WORKERS"] = str(args.workers)
        if redis is not None:
            env["REDIS_URL"] = redis.url
        subprocess.run(
            [sys.executable, "-m", "app", "ingest", *map(str, files), "--json"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
        proc = start_server(env, port)
        try:
            key = (Path(tmp) / "api-key").read_text().strip()
            provider_whole, provider_first = asyncio.run(provider_times(llm_url + "/v1", 50))
            load(port, key, 64, 16, unique=True)  # warm-up: every worker has served, pools fill
            miss_1, _ = load(port, key, total // 4, 1, unique=True)
            cpu = cpu_seconds(proc.pid)
            misses, miss_seconds = load(port, key, total, 16, unique=True)
            miss_cpu_ms = (cpu_seconds(proc.pid) - cpu) * 1000 / total
            load(port, key, len(QUESTIONS), 1, unique=False)  # fill the cache: the hit runs only hit
            hits_1, _ = load(port, key, total, 1, unique=False)
            cpu = cpu_seconds(proc.pid)
            hits, hit_seconds = load(port, key, total * 4, 16, unique=False)
            hit_cpu_ms = (cpu_seconds(proc.pid) - cpu) * 1000 / (total * 4)
            streamed, _ = load(port, key, 40 if args.quick else 100, 1, unique=True, stream=True)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
            ours.send("stop")
            fake.join(10)
            if redis is not None:
                redis.stop()
    assert all(r.headers.get("x-cache") == "miss" for r in misses + miss_1), "a cache-miss run was served from cache"
    assert all(r.headers.get("x-cache") == "hit" for r in hits + hits_1), "a cache-hit run missed the cache"
    first_token = [r.first_token for r in streamed if r.first_token is not None]
    assert len(first_token) == len(streamed), "a streamed answer had no token event"
    provider_p50 = percentile(provider_whole, 0.5) * 1000
    provider_first_p50 = percentile(provider_first, 0.5) * 1000
    miss = latency_stats([r.seconds for r in misses])
    one = latency_stats([r.seconds for r in miss_1])
    hit = latency_stats([r.seconds for r in hits])
    hit_one = latency_stats([r.seconds for r in hits_1])
    sse_p50 = percentile(first_token, 0.5) * 1000
    figures = {
        "concurrency": 16,
        "requests": total,
        "provider_call_p50_ms": round(provider_p50, 3),
        "chat_p50_ms": miss["p50_ms"],
        "chat_p99_ms": miss["p99_ms"],
        "overhead_p50_ms": round(miss["p50_ms"] - provider_p50, 3),
        "overhead_p99_ms": round(miss["p99_ms"] - provider_p50, 3),
        "req_per_s": round(total / miss_seconds, 1),
        "server_cpu_ms_per_miss": round(miss_cpu_ms, 3),
        "one_client_chat_p50_ms": one["p50_ms"],
        "one_client_overhead_p50_ms": round(one["p50_ms"] - provider_p50, 3),
        "cache_hit_p50_ms": hit["p50_ms"],
        "cache_hit_p99_ms": hit["p99_ms"],
        "cache_hit_req_per_s": round(total * 4 / hit_seconds, 1),
        "server_cpu_ms_per_hit": round(hit_cpu_ms, 3),
        "one_client_cache_hit_p50_ms": hit_one["p50_ms"],
        "one_client_cache_hit_p99_ms": hit_one["p99_ms"],
        "sse_first_token_p50_ms": round(sse_p50, 3),
        "provider_first_chunk_p50_ms": round(provider_first_p50, 3),
        "sse_added_p50_ms": round(sse_p50 - provider_first_p50, 3),
        "cores": os.cpu_count(),
        "workers": args.workers,
        "redis": redis is not None,
        "query_embedding_precision": os.environ.get("QUERY_EMBEDDING_PRECISION") or "int8",
    }
    table = "\n".join(
        [
            f"{args.workers} worker(s) on {os.cpu_count()} cores, {'shared Redis' if redis else 'in-process state'};"
            f" fake LLM (own process) answers in {provider_p50:.2f} ms (direct SDK call)",
            f"cache miss, 16 clients  p50 {miss['p50_ms']:.2f} ms  p99 {miss['p99_ms']:.2f} ms  {figures['req_per_s']:.0f} req/s"
            f"  -> overhead p50 {figures['overhead_p50_ms']:.2f} ms (target <= 20); server CPU {miss_cpu_ms:.2f} ms/request",
            f"cache miss, 1 client    p50 {one['p50_ms']:.2f} ms  p99 {one['p99_ms']:.2f} ms"
            f"  -> overhead p50 {figures['one_client_overhead_p50_ms']:.2f} ms",
            f"cache hit, 16 clients   p50 {hit['p50_ms']:.2f} ms  p99 {hit['p99_ms']:.2f} ms  {figures['cache_hit_req_per_s']:.0f} req/s"
            f"  (target p99 <= 5); server CPU {hit_cpu_ms:.2f} ms/request",
            f"cache hit, 1 client     p50 {hit_one['p50_ms']:.2f} ms  p99 {hit_one['p99_ms']:.2f} ms",
            f"SSE first token, 1 client p50 {sse_p50:.2f} ms, provider first chunk {provider_first_p50:.2f} ms"
            f"  -> added {figures['sse_added_p50_ms']:.2f} ms (target <= 5; includes embedding and retrieval)",
        ]
    )
    emit(args, figures, table)


if __name__ == "__main__":
    main()
