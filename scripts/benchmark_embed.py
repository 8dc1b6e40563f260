"""Local MiniLM: ONNX Runtime int8 and fp32 against sentence-transformers on torch, side by side in one run.

Three workloads, each timed for wall clock and for the process's CPU (all threads): one question
(the chat path with one client), 16 questions in one call (the chat path under load, see
app/embed/batcher.py), and real chunks from the golden PDFs (ingestion: CHUNK_SIZE tokens,
EMBED_BATCH_SIZE per call). The three get the same texts, each as Pagewise runs it (int8: one
text per call on one thread; fp32: batches on ONNX Runtime's default threads); their agreement with
torch (minimum cosine) is printed too. All are loaded and warmed before any timing. Pagewise
embeds questions on ONNX Runtime int8 (QUERY_EMBEDDING_PRECISION) and chunks on torch
(app/embed/local.py): these figures are why.

    python scripts/benchmark_embed.py [--quick] [--json]
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np
from benchlib import DATASET, ROOT, emit, parser

from app.embed.base import model_dir
from app.embed.local import MiniLMEmbedding
from app.ingest.chunking import chunk_page
from app.ingest.sandbox import parse_pdf
from app.settings import Settings

QUESTION = "What is the main contribution of the paper?"


def golden_chunks(settings: Settings, limit: int) -> list[str]:
    manifest = json.loads((DATASET / "manifest.json").read_text())
    texts: list[str] = []
    for entry in sorted(manifest, key=lambda d: d["pages"]):
        for page in parse_pdf((DATASET / "documents" / entry["file"]).read_bytes()).pages:
            chunks = chunk_page(
                uuid.uuid4(), page.number, page.sha256, page.text, chunk_size=settings.chunk_size, chunk_overlap=32
            )
            texts.extend(c.text for c in chunks)
            if len(texts) >= limit:
                return texts[:limit]
    return texts


def timed(call: Callable[[], Any], repeats: int) -> dict[str, float]:
    """Mean wall and CPU milliseconds per call."""
    call()
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(repeats):
        call()
    return {
        "wall_ms": round((time.perf_counter() - wall) * 1000 / repeats, 2),
        "cpu_ms": round((time.process_time() - cpu) * 1000 / repeats, 2),
    }


def main() -> None:
    args = parser(__doc__ or "").parse_args()
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    from sentence_transformers import SentenceTransformer

    cache_dir = settings.model_cache_dir or ROOT / settings.data_dir / "models"
    onnx = {p: MiniLMEmbedding(cache_dir, settings.embed_batch_size, p) for p in ("int8", "fp32")}
    torch_model = SentenceTransformer(str(model_dir()), device="cpu")

    def torch_embed(texts: list[str]) -> list[list[float]]:
        vectors: np.ndarray = torch_model.encode(
            texts, batch_size=settings.embed_batch_size, normalize_embeddings=True, show_progress_bar=False
        )
        return vectors.tolist()

    questions = [f"{QUESTION} (variant {i})" for i in range(16)]
    chunks = golden_chunks(settings, 64 if args.quick else 256)
    workloads: dict[str, tuple[list[str], int]] = {
        "one_question": ([QUESTION], 30 if args.quick else 200),
        "16_questions": (questions, 5 if args.quick else 40),
        f"{len(chunks)}_chunks": (chunks, 1 if args.quick else 3),
    }
    figures: dict[str, Any] = {
        "threads": "int8: 1; fp32 and torch: their defaults",
        "chunk_tokens": settings.chunk_size,
    }
    lines = [
        f"{'workload':<14} {'int8 wall':>10} {'fp32 wall':>10} {'torch wall':>11} "
        f"{'int8 cpu':>9} {'fp32 cpu':>9} {'torch cpu':>10} {'torch/int8':>11} {'torch/fp32':>11}"
    ]
    agreement = {"int8": 1.0, "fp32": 1.0}
    for name, (texts, repeats) in workloads.items():
        row: dict[str, Any] = {
            p: timed(lambda texts=texts, m=model: m.get_query_embeddings(texts), repeats)  # type: ignore[misc]
            for p, model in onnx.items()
        }
        row["torch"] = timed(lambda texts=texts: torch_embed(texts), repeats)  # type: ignore[misc]
        reference = np.array(torch_embed(texts))
        for p, model in onnx.items():
            cosines = np.sum(np.array(model.get_query_embeddings(texts)) * reference, 1)
            agreement[p] = min(agreement[p], float(np.min(cosines)))
            row[f"torch_cpu_over_{p}"] = round(row["torch"]["cpu_ms"] / row[p]["cpu_ms"], 2)
        figures[name] = row
        lines.append(
            f"{name:<14} {row['int8']['wall_ms']:>8.2f}ms {row['fp32']['wall_ms']:>8.2f}ms "
            f"{row['torch']['wall_ms']:>9.2f}ms {row['int8']['cpu_ms']:>7.2f}ms {row['fp32']['cpu_ms']:>7.2f}ms "
            f"{row['torch']['cpu_ms']:>8.2f}ms {row['torch_cpu_over_int8']:>10.2f}x {row['torch_cpu_over_fp32']:>10.2f}x"
        )
    figures["min_cosine_with_torch"] = {p: round(a, 7) for p, a in agreement.items()}
    lines.append(
        f"minimum cosine with torch's vectors: int8 {agreement['int8']:.4f}, fp32 {agreement['fp32']:.7f} (ms are per call)"
    )
    emit(args, figures, "\n".join(lines))


if __name__ == "__main__":
    main()
