"""Publishes an eval run to Langfuse: the dataset (stable item ids), an experiment run, and every metric as a score.

Items are upserted under ids derived from the dataset and question ids, so re-running updates
the same items. The run is a Langfuse experiment named after the pipeline and git commit;
per-question scores (hit@k, reciprocal rank, answer score, refusal) attach to each item's trace,
run-level metrics to the run. A Langfuse failure is reported in the summary and never fails the eval.
"""

from __future__ import annotations

from typing import Any

from app.core.logging import get_logger
from app.settings import Settings
from evals.dataset import Dataset, Question
from evals.metrics import KS
from evals.runner import EvalRun

log = get_logger(__name__)


def item_id(dataset: Dataset, question: Question) -> str:
    return f"pagewise-{dataset.name}-{question.id}"


def _item_scores(row: dict[str, Any]) -> dict[str, float]:
    scores: dict[str, float] = {}
    if row.get("answerable") and row.get("gold_pages"):
        rank = row.get("rank")
        for k in KS:
            scores[f"hit@{k}"] = float(rank is not None and rank <= k)
        scores["rr@10"] = 1.0 / rank if rank is not None and rank <= 10 else 0.0
        scores["answer_in_context@5"] = float(bool(row.get("answer_in_context@5")))
    if "answer_score" in row:
        scores["answer_score"] = float(row["answer_score"])
    if "refused" in row:
        scores["refused"] = float(row["refused"])
    return scores


def _run_scores(run: EvalRun) -> dict[str, float]:
    flat: dict[str, float] = {}
    for group in ("retrieval", "retrieval_corpus", "answers"):
        for name, value in run.metrics.get(group, {}).items():
            if isinstance(value, int | float):
                flat[name if group == "retrieval" else f"{group}.{name}"] = float(value)
    return flat


def publish(settings: Settings, dataset: Dataset, run: EvalRun, *, run_name: str) -> dict[str, Any]:
    """Send ``run`` to Langfuse; returns what was sent (or the error) for the run's summary."""
    from langfuse import Evaluation, Langfuse

    secret = settings.langfuse_secret_key.get_secret_value() if settings.langfuse_secret_key else None
    client = Langfuse(
        public_key=settings.langfuse_public_key,
        secret_key=secret,
        base_url=settings.langfuse_host,
        environment=settings.environment,
    )
    name = f"pagewise/{dataset.name}"
    rows = {row["id"]: row for row in run.questions}  # by question id, which each item's metadata carries
    try:
        client.create_dataset(
            name=name,
            description=f"Golden questions of {dataset.name} with gold pages, as scored by Pagewise.",
            metadata={"questions": len(dataset.questions), "documents": len(dataset.documents())},
        )
        items = [
            client.create_dataset_item(
                dataset_name=name,
                id=item_id(dataset, q),
                input={"question": q.question, "doc_id": q.doc_id},
                expected_output={"answer": q.answer, "gold_pages": list(q.gold_pages)},
                metadata={"answer_format": q.answer_format, "answerable": q.answerable, "question_id": q.id},
            )
            for q in dataset.questions
        ]

        def task(*, item: Any, **_: Any) -> dict[str, Any]:
            row = rows[item.metadata["question_id"]]
            return {"retrieved": row["retrieved"][:5], "prediction": row.get("prediction")}

        def per_item(*, input: Any, output: Any, metadata: Any = None, **_: Any) -> list[Any]:
            row = rows.get((metadata or {}).get("question_id"), {})
            return [Evaluation(name=n, value=v) for n, v in _item_scores(row).items()]

        def per_run(**_: Any) -> list[Any]:
            return [Evaluation(name=n, value=v) for n, v in _run_scores(run).items()]

        result = client.run_experiment(
            name=f"pagewise eval: {dataset.name}",
            run_name=run_name,
            description=f"pipeline {run.pipeline}",
            data=items,
            task=task,
            evaluators=[per_item],
            run_evaluators=[per_run],
            metadata={"pipeline": run.pipeline},
            max_concurrency=8,
        )
        client.flush()
        return {
            "dataset": name,
            "run_name": run_name,
            "items": len(items),
            "run_scores": len(_run_scores(run)),
            "url": getattr(result, "experiment_url", None),
        }
    except Exception as exc:  # Langfuse being down must not fail an eval
        log.warning("could not publish the eval run to Langfuse", error=str(exc))
        return {"dataset": name, "run_name": run_name, "error": f"{type(exc).__name__}: {exc}"}
    finally:
        client.shutdown()
