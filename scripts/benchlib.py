"""Shared pieces of the benchmark scripts: an isolated database, timing statistics, output."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evals.dataset import DEFAULT_DATASET  # noqa: E402  (after the path is set)

DATASET = DEFAULT_DATASET  # the golden set the benchmarks read


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object on the last line")
    p.add_argument("--quick", action="store_true", help="a smaller run that finishes in under a minute")
    p.add_argument("--database-url", help="use this PostgreSQL (pgvector) instead of a temporary embedded one")
    return p


@contextmanager
def isolated_database(database_url: str | None) -> Iterator[str]:
    """A migrated database of its own: a temporary embedded server unless a URL is given."""
    from app.store import migrate
    from app.store.embedded import start_embedded, stop_embedded

    if database_url:
        migrate.upgrade(database_url)
        yield database_url
        return
    with tempfile.TemporaryDirectory(prefix="pagewise-bench-") as tmp:
        url = start_embedded(Path(tmp), database="bench")
        try:
            migrate.upgrade(url)
            yield url
        finally:
            stop_embedded(Path(tmp))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q
    low, high = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def latency_stats(seconds: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(percentile(seconds, 0.5) * 1000, 3),
        "p99_ms": round(percentile(seconds, 0.99) * 1000, 3),
        "mean_ms": round(statistics.fmean(seconds) * 1000, 3),
        "qps": round(len(seconds) / sum(seconds), 1) if seconds else 0.0,
    }


def emit(args: argparse.Namespace, figures: dict[str, Any], table: str) -> None:
    """Human table unless --json; with --json the figures are the last line."""
    if args.json:
        print(json.dumps(figures))
    else:
        print(table)
