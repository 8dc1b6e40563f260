"""The Markdown summary of an eval run, written beside its JSON results."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def _table(title: str, metrics: dict[str, Any]) -> list[str]:
    if not metrics:
        return []
    names = list(metrics)
    return [
        f"### {title}",
        "",
        "| " + " | ".join(names) + " |",
        "|" + "---|" * len(names),
        "| " + " | ".join("-" if metrics[n] is None else f"{metrics[n]}" for n in names) + " |",
        "",
    ]


def markdown_summary(summary: dict[str, Any], questions: Sequence[dict[str, Any]]) -> str:
    lines = [
        f"## Eval: {summary['dataset']}, pipeline `{summary['pipeline']}`, commit `{summary.get('commit')}`",
        "",
        f"Questions: {summary.get('questions', {})}; timings: {summary.get('timings', {})}",
        "",
    ]
    lines += _table("Retrieval, asked about the question's document (page level)", summary.get("retrieval", {}))
    lines += _table("Retrieval over the whole corpus", summary.get("retrieval_corpus", {}))
    answers = {k: v for k, v in summary.get("answers", {}).items() if k != "modes"}
    lines += _table("Answers", answers)
    misses = [q for q in questions if q.get("answerable") and q.get("rank") is None]
    if misses:
        lines += ["### Answerable questions with no gold page in the top 10", ""]
        lines += [f"- `{q['id']}` {q['doc_id']} p.{q['gold_pages']}: {q['question']}" for q in misses]
        lines.append("")
    return "\n".join(lines)
