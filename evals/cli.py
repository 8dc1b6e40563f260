"""`python -m app eval`: score retrieval (and answers) on a golden dataset, write results, gate on floors.

Results go to ``evals/results/<timestamp>-<pipeline>.json`` with a Markdown summary beside it;
with ``--json`` the last line printed is one object with the figures. ``--gate`` fails (exit 1)
naming every retrieval metric below its floor in ``evals/thresholds.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from app.settings import Settings
from evals.dataset import DEFAULT_DATASET, DatasetError, load_dataset
from evals.report import markdown_summary
from evals.runner import PIPELINES, EvalRun, run_eval

EVALS_DIR = Path(__file__).resolve().parent
THRESHOLDS = EVALS_DIR / "thresholds.json"
GATED_GROUPS = ("retrieval", "retrieval_corpus")
RESULTS_DIR = EVALS_DIR / "results"
QUICK_DOCUMENTS = 4  # --quick: the questions of the first 4 documents, well under a minute


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m app eval", description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET, help="dataset folder (documents/ + *.jsonl)")
    parser.add_argument("--pipeline", choices=sorted(PIPELINES), default="pagewise", help="what to measure")
    parser.add_argument("--answers", action="store_true", help="also answer every question through the LLM chain")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object (last line)")
    parser.add_argument("--quick", action="store_true", help=f"only the first {QUICK_DOCUMENTS} documents' questions")
    parser.add_argument("--gate", action="store_true", help="exit 1 when a retrieval metric is below its floor")
    parser.add_argument("--thresholds", type=Path, default=THRESHOLDS, help="floors for --gate")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR, help="where result files are written")
    parser.add_argument("--no-langfuse", action="store_true", help="do not send the run to Langfuse even with keys")
    return parser


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],  # noqa: S607 - git from PATH, our own repo
            cwd=EVALS_DIR,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def check_floors(metrics: dict[str, Any], thresholds: dict[str, Any]) -> list[str]:
    """One line per retrieval metric below its floor (a metric missing from the run counts as 0).

    Floors are per group: ``retrieval`` (asked about the question's document) and
    ``retrieval_corpus`` (asked of the whole library); a metric of the latter is named with its group.
    """
    failures = []
    for group in GATED_GROUPS:
        for name, floor in thresholds.get(group, {}).items():
            value = metrics.get(group, {}).get(name, 0.0)
            label = name if group == "retrieval" else f"{group}.{name}"
            if value < floor:
                failures.append(f"{label} = {value:.4f} is below its floor {floor:.4f}")
    return failures


def figures(run: EvalRun, commit: str, results_file: Path | None) -> dict[str, Any]:
    return {
        "dataset": run.dataset,
        "pipeline": run.pipeline,
        "commit": commit,
        **run.metrics,
        "timings": run.timings,
        "ingest": run.ingest,
        "results_file": str(results_file) if results_file else None,
    }


def write_results(run: EvalRun, summary: dict[str, Any], results_dir: Path) -> Path:
    results_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = results_dir / f"{stamp}-{run.dataset}-{run.pipeline}.json"
    path.write_text(json.dumps({**summary, "results_file": str(path), "questions": run.questions}, indent=1))
    path.with_suffix(".md").write_text(markdown_summary(summary, run.questions))
    return path


def main(settings: Settings, argv: Sequence[str]) -> int:
    args = build_parser().parse_args(list(argv))
    try:
        dataset = load_dataset(args.dataset)
    except DatasetError as exc:
        print(f"error [dataset_invalid]: {exc}", file=sys.stderr)
        return 2
    if args.quick:
        if args.gate:
            print(
                "error [usage]: --gate needs the whole dataset its floors were measured on; drop --quick",
                file=sys.stderr,
            )
            return 2
        dataset = dataset.subset(QUICK_DOCUMENTS)

    def say(message: str) -> None:
        print(f"eval: {message}", file=sys.stderr, flush=True)

    run = asyncio.run(
        run_eval(settings, dataset, pipeline=args.pipeline, answers=args.answers, progress=say, show_progress=True)
    )
    commit = git_commit()
    summary = figures(run, commit, None)
    path = write_results(run, summary, args.results_dir)
    summary["results_file"] = str(path)
    if not args.no_langfuse and settings.langfuse_public_key and settings.langfuse_secret_key:
        from evals.langfuse_sync import publish

        summary["langfuse"] = publish(settings, dataset, run, run_name=f"{run.pipeline}@{commit}")
    status = 0
    if args.gate:
        floors = json.loads(args.thresholds.read_text())
        failures = check_floors(run.metrics, floors)
        for line in failures:
            print(f"eval gate FAILED: {line} ({args.thresholds.name})", file=sys.stderr)
        if not failures:
            say(f"gate passed: every retrieval metric is at or above its floor in {args.thresholds.name}")
        summary["gate"] = {"passed": not failures, "failures": failures}
        status = 1 if failures else 0
    if args.json:
        print(json.dumps(summary))
    else:
        print(markdown_summary(summary, []))
        print(f"per-question results: {path}")
    return status
