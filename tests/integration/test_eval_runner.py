"""The eval runner on a small real dataset: its own database, incremental re-runs, answers, the CLI gate."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from app.embed import Embedder
from app.settings import Settings
from app.store.db import normalise_url
from evals.cli import check_floors
from evals.dataset import DEFAULT_DATASET, load_dataset
from evals.runner import eval_database_url, run_eval
from tests.conftest import REPO
from tests.helpers.fake_server import ChatScript, FakeServer, openai_chat_server

QUESTIONS = ("mmlb-0132", "mmlb-0587", "mmlb-0588", "mmlb-0133")  # three answerable, one not


def small_dataset(root: Path) -> Path:
    """Four real questions about two real PDFs of the golden set, as a dataset folder of its own."""
    rows = [
        json.loads(line)
        for name in ("qa.jsonl", "unanswerable.jsonl")
        for line in (DEFAULT_DATASET / name).read_text().splitlines()
    ]
    chosen = sorted((r for r in rows if r["id"] in QUESTIONS), key=lambda r: QUESTIONS.index(r["id"]))
    (root / "documents").mkdir(parents=True)
    for doc in {r["doc_id"] for r in chosen}:
        (root / "documents" / doc).symlink_to(DEFAULT_DATASET / "documents" / doc)
    (root / "qa.jsonl").write_text("\n".join(json.dumps(r) for r in chosen) + "\n")
    return root


@pytest.fixture
def dataset_dir(tmp_path: Path) -> Path:
    return small_dataset(tmp_path / f"small-{tmp_path.name[-6:]}")


async def test_retrieval_metrics_in_an_isolated_database_and_a_rerun_embeds_nothing(
    dataset_dir: Path, make_settings: Callable[..., Settings], minilm: Embedder, database_url: str
) -> None:
    settings = make_settings()
    dataset = load_dataset(dataset_dir)
    run = await run_eval(settings, dataset)
    eval_db = normalise_url(eval_database_url(database_url, dataset.name, "pagewise")).database
    assert eval_db != normalise_url(database_url).database
    assert run.ingest["files"] == 2
    assert run.ingest["pages_embedded"] > 20
    retrieval = run.metrics["retrieval"]
    assert set(retrieval) == {"hit@1", "hit@3", "hit@5", "hit@10", "mrr@10", "answer_in_context@5"}
    assert run.metrics["questions"] == {"retrieval_scored": 3, "answerable": 3, "unanswerable": 1}
    # The phone number and the e-mail address sit on their gold pages: found in the top 5, in context.
    by_id = {row["id"]: row for row in run.questions}
    assert by_id["mmlb-0132"]["rank"] is not None
    assert by_id["mmlb-0132"]["rank"] <= 5
    assert by_id["mmlb-0588"]["answer_in_context@5"] is True
    assert by_id["mmlb-0133"]["rank"] is None
    assert not by_id["mmlb-0133"]["answerable"]
    assert all(len(row["retrieved"]) == 10 for row in run.questions)
    assert 0 < retrieval["mrr@10"] <= retrieval["hit@10"] <= 1

    again = await run_eval(settings, dataset)
    assert again.ingest["pages_embedded"] == 0
    assert again.ingest["embeddings"] == 0
    assert again.metrics["retrieval"] == retrieval, "same data, same retrieval, same scores"

    plain = await run_eval(settings, dataset, pipeline="plain")
    assert plain.pipeline == "plain"
    assert plain.ingest["pages_embedded"] > 20, "the baseline has its own database and chunking"
    assert set(plain.metrics["retrieval"]) == set(retrieval)


async def test_answers_are_scored_through_the_llm_chain(
    dataset_dir: Path, make_settings: Callable[..., Settings], minilm: Embedder
) -> None:
    with FakeServer() as server:
        scripts = openai_chat_server(server)
        scripts += [
            ChatScript(text="The telephone number is 01983 873655 [1]."),  # right
            ChatScript(text="It is a district court [2]."),  # wrong
            ChatScript(text="The e-mail is lnahmiash@infavocats.com [1]."),  # right
            ChatScript(text="The documents do not contain the answer to this question."),  # a right refusal
        ]
        settings = make_settings(
            llm_order=["openai"], openai_api_key="sk-test", openai_base_url=server.url + "/v1", llm_retries=0
        )
        run = await run_eval(settings, load_dataset(dataset_dir), answers=True)
    answers = run.metrics["answers"]
    assert answers["accuracy"] == round(2 / 3, 4)
    assert answers["refusal_rate_unanswerable"] == 1.0
    assert answers["false_refusal_rate"] == 0.0
    assert answers["modes"] == {"generated": 4}
    prompts = [r.body["messages"][-1]["content"] for r in server.requests if r.path.endswith("/chat/completions")]
    assert len(prompts) == 4
    assert "Limes" in prompts[0] or "01983" in prompts[0], "the passages of the question's document are in the prompt"


def test_gate_names_the_metric_value_and_floor() -> None:
    metrics: dict[str, Any] = {"retrieval": {"hit@5": 0.8, "mrr@10": 0.55}}
    failures = check_floors(metrics, {"retrieval": {"hit@5": 0.8, "mrr@10": 0.6, "hit@1": 0.1}})
    assert failures == [
        "mrr@10 = 0.5500 is below its floor 0.6000",
        "hit@1 = 0.0000 is below its floor 0.1000",
    ]
    corpus = {"retrieval": {"hit@5": 0.9}, "retrieval_corpus": {"hit@5": 0.6}}
    assert check_floors(corpus, {"retrieval": {"hit@5": 0.85}, "retrieval_corpus": {"hit@5": 0.65}}) == [
        "retrieval_corpus.hit@5 = 0.6000 is below its floor 0.6500"
    ]


def test_cli_json_last_line_results_files_and_a_failing_gate(
    dataset_dir: Path, database_url: str, tmp_path: Path
) -> None:
    floors = tmp_path / "floors.json"
    floors.write_text(json.dumps({"retrieval": {"hit@10": 1.01}}))
    env = {**os.environ, "DATABASE_URL": database_url, "DATA_DIR": str(tmp_path / "data"), "LOG_LEVEL": "WARNING"}
    args = ["--dataset", str(dataset_dir), "--json", "--results-dir", str(tmp_path / "results")]
    proc = subprocess.run(
        [sys.executable, "-m", "app", "eval", *args, "--gate", "--thresholds", str(floors)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "eval gate FAILED: hit@10 =" in proc.stderr
    assert "below its floor 1.0100" in proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["gate"]["passed"] is False
    assert set(summary["retrieval"]) >= {"hit@1", "hit@3", "hit@5", "hit@10", "mrr@10", "answer_in_context@5"}
    results = Path(summary["results_file"])
    assert results.is_file()
    assert results.with_suffix(".md").is_file()
    stored = json.loads(results.read_text())
    assert [q["id"] for q in stored["questions"]] == list(QUESTIONS)
    bad = subprocess.run(
        [sys.executable, "-m", "app", "eval", "--dataset", str(tmp_path / "nowhere")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2
    assert "error [dataset_invalid]" in bad.stderr
    assert "no documents/ folder" in bad.stderr
