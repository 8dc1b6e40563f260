"""An eval run published to Langfuse: the real SDK against a recording server on 127.0.0.1."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.settings import Settings
from evals.dataset import Dataset, Question, load_dataset
from evals.langfuse_sync import item_id, publish
from evals.runner import EvalRun
from tests.helpers.fake_server import FakeServer, Recorded
from tests.helpers.otlp import recording_langfuse, spans

NOW = "2026-11-23T00:00:00.000Z"


def langfuse_api(server: FakeServer) -> FakeServer:
    """The Langfuse public API routes the SDK uses for datasets, experiments and scores."""
    recording_langfuse(server)
    server.route(
        "POST",
        r"/api/public/v2/datasets",
        lambda r, _: (200, {**r.body, "id": "ds-1", "projectId": "proj-1", "createdAt": NOW, "updatedAt": NOW}),
    )

    def item(request: Recorded, _: re.Match[str]) -> tuple[int, Any]:
        body = request.body
        return 200, {
            **body,
            "status": "ACTIVE",
            "datasetId": "ds-1",
            "mediaReferences": [],
            "createdAt": NOW,
            "updatedAt": NOW,
        }

    server.route("POST", r"/api/public/dataset-items", item)
    project = {"id": "proj-1", "name": "pagewise", "organization": {"id": "org", "name": "org"}, "metadata": {}}
    server.route("GET", r"/api/public/projects", lambda r, _: (200, {"data": [project]}))
    server.route("POST", r"/api/public/scores", lambda r, _: (202, {"message": "Accepted"}))
    return server


def two_question_run() -> tuple[Dataset, EvalRun]:
    questions = [
        Question("q1", "a.pdf", "What is the fax?", "514", "Str", (14,), True),
        Question("q2", "a.pdf", "What is missing?", "Not answerable", "None", (), False),
    ]
    dataset = Dataset("tiny", Path("/nowhere"), questions)
    run = EvalRun(dataset="tiny", pipeline="pagewise")
    run.questions = [
        {
            "id": "q1",
            "answerable": True,
            "gold_pages": [14],
            "retrieved": [{"file": "a.pdf", "page": 2}, {"file": "a.pdf", "page": 14}],
            "rank": 2,
            "answer_in_context@5": True,
            "prediction": "The fax is 514 [2].",
            "answer_score": 1.0,
        },
        {
            "id": "q2",
            "answerable": False,
            "gold_pages": [],
            "retrieved": [],
            "rank": None,
            "refused": True,
            "prediction": "The documents do not contain the answer to this question.",
        },
    ]
    run.metrics = {
        "retrieval": {
            "hit@1": 0.0,
            "hit@3": 1.0,
            "hit@5": 1.0,
            "hit@10": 1.0,
            "mrr@10": 0.5,
            "answer_in_context@5": 1.0,
        },
        "answers": {"accuracy": 1.0, "refusal_rate_unanswerable": 1.0, "modes": {"generated": 2}},
    }
    return dataset, run


def test_dataset_items_experiment_run_and_scores_reach_langfuse(make_settings: Callable[..., Settings]) -> None:
    dataset, run = two_question_run()
    with FakeServer() as server:
        langfuse_api(server)
        public = f"pk-lf-{uuid.uuid4().hex[:8]}"
        settings = make_settings(langfuse_public_key=public, langfuse_secret_key="sk-lf-test", langfuse_host=server.url)
        sent = publish(settings, dataset, run, run_name="pagewise@abc123")
        requests = list(server.requests)
    assert "error" not in sent, sent
    assert sent["items"] == 2
    assert sent["run_name"] == "pagewise@abc123"
    created = [r.body for r in requests if r.path == "/api/public/v2/datasets"]
    assert created
    assert created[0]["name"] == "pagewise/tiny"
    items = [r.body for r in requests if r.path == "/api/public/dataset-items"]
    assert [i["id"] for i in items] == ["pagewise-tiny-q1", "pagewise-tiny-q2"], "stable item ids"
    assert items[0]["expectedOutput"] == {"answer": "514", "gold_pages": [14]}
    assert items[0]["input"] == {"question": "What is the fax?", "doc_id": "a.pdf"}

    scores = [s for r in requests if r.path == "/api/public/scores" for s in r.body]
    item_scores = {(s["name"], s["value"]) for s in scores if "traceId" in s}
    assert {("hit@1", 0.0), ("hit@3", 1.0), ("rr@10", 0.5), ("answer_score", 1.0), ("refused", 1.0)} <= item_scores
    run_scores = {s["name"]: s["value"] for s in scores if "datasetRunId" in s}
    assert run_scores["mrr@10"] == 0.5
    assert run_scores["hit@5"] == 1.0
    assert run_scores["answers.accuracy"] == 1.0

    exported = spans(requests)
    task_spans = [s for s in exported if s["name"] == "experiment-item-task"]
    assert len(task_spans) == 2
    assert any("pagewise@abc123" in str(v) for s in task_spans for v in s.values()), "the run is named after the commit"
    assert any("pagewise-tiny-q1" in str(v) for s in task_spans for v in s.values()), "linked to the dataset item"


def test_langfuse_down_never_fails_the_eval(make_settings: Callable[..., Settings]) -> None:
    dataset, run = two_question_run()
    with FakeServer() as server:
        dead = server.url
    settings = make_settings(langfuse_public_key="pk-lf-x", langfuse_secret_key="sk-lf-x", langfuse_host=dead)
    sent = publish(settings, dataset, run, run_name="pagewise@dead")
    assert sent["run_name"] == "pagewise@dead"
    assert "error" in sent, "reported in the summary, not raised"


def test_item_ids_are_stable_across_loads() -> None:
    from evals.dataset import DEFAULT_DATASET

    first, second = load_dataset(DEFAULT_DATASET), load_dataset(DEFAULT_DATASET)
    assert [item_id(first, q) for q in first.questions] == [item_id(second, q) for q in second.questions]
    assert len({item_id(first, q) for q in first.questions}) == len(first.questions)
