"""Runs the eval and compares it with the stored baseline (evals/baseline.json), metric by metric.

Both pipelines are measured in one run, side by side: Pagewise's own path and the plain LlamaIndex
baseline (SentenceSplitter 1024/200, MiniLM, dense top-k). Deltas are against the figures stored
for the same dataset size (full, or --quick). `--update` stores this run as the new baseline.

    python scripts/run_baseline_evaluation.py [--quick] [--json] [--pagewise-only] [--update]
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from benchlib import ROOT, parser

from app.settings import load_settings
from evals.cli import QUICK_DOCUMENTS, git_commit
from evals.dataset import DEFAULT_DATASET, load_dataset
from evals.runner import run_eval

BASELINE = ROOT / "evals" / "baseline.json"
METRICS = ("hit@1", "hit@3", "hit@5", "hit@10", "mrr@10", "answer_in_context@5")


def main() -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--pagewise-only", action="store_true", help="skip the plain LlamaIndex baseline")
    p.add_argument("--update", action="store_true", help="store this run's figures as the new baseline")
    args = p.parse_args()
    settings = load_settings()
    if args.database_url:
        settings = settings.model_copy(update={"database_url": args.database_url})
    dataset = load_dataset(DEFAULT_DATASET)
    size = "quick" if args.quick else "full"
    if args.quick:
        dataset = dataset.subset(QUICK_DOCUMENTS)
    pipelines = ["pagewise"] if args.pagewise_only else ["pagewise", "plain"]
    now: dict[str, dict[str, Any]] = {}
    for name in pipelines:
        print(f"running the {name} pipeline on {len(dataset.questions)} questions", file=sys.stderr, flush=True)
        run = asyncio.run(run_eval(settings, dataset, pipeline=name))
        now[name] = {"retrieval": run.metrics["retrieval"], "retrieval_corpus": run.metrics["retrieval_corpus"]}
    stored: dict[str, Any] = json.loads(BASELINE.read_text()) if BASELINE.is_file() else {}
    before = stored.get("pagewise", {}).get(size, {}).get("retrieval", {})
    current = now["pagewise"]["retrieval"]
    delta = {m: round(current[m] - before[m], 4) for m in METRICS if m in before and m in current}
    figures: dict[str, Any] = {
        "dataset": dataset.name,
        "size": size,
        "commit": git_commit(),
        "retrieval": current,
        "baseline": before,
        "delta": delta,
    }
    if "plain" in now:
        plain = now["plain"]["retrieval"]
        figures["plain_llamaindex"] = plain
        figures["vs_plain"] = {m: round(current[m] - plain[m], 4) for m in METRICS if m in plain}
    rows = [f"{'metric':<22}{'baseline':>10}{'now':>10}{'delta':>10}{'plain LI':>10}"]
    for m in METRICS:
        plain_value = figures.get("plain_llamaindex", {}).get(m)
        rows.append(
            f"{m:<22}{before.get(m, float('nan')):>10.4f}{current.get(m, float('nan')):>10.4f}"
            f"{delta.get(m, float('nan')):>+10.4f}{plain_value if plain_value is not None else float('nan'):>10.4f}"
        )
    if args.update:
        for name, values in now.items():
            stored.setdefault(name, {})[size] = values
        stored.update(
            dataset=dataset.name,
            measured_at=time.strftime("%Y-%m-%d", time.gmtime()),
            commit=figures["commit"],
            command="python scripts/run_baseline_evaluation.py --update" + (" --quick" if args.quick else ""),
        )
        BASELINE.write_text(json.dumps(stored, indent=2) + "\n")
        rows.append(f"stored as the new baseline in {BASELINE.relative_to(ROOT)}")
    if args.json:
        print(json.dumps(figures))
    else:
        print("\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
