"""The repository stands alone: a clone with nothing beside it has the golden set and runs the eval."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from evals.dataset import DEFAULT_DATASET
from tests.conftest import REPO


def _git(*args: str, cwd: Path = REPO) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True, timeout=120).stdout


def test_no_tracked_file_reaches_outside_the_repository() -> None:
    # The pattern is a regular expression so that this file does not match itself.
    found = subprocess.run(
        ["git", "grep", "-l", "-E", r"\.\./shar[e]d"], cwd=REPO, capture_output=True, text=True, timeout=60, check=False
    )
    assert found.returncode in (0, 1), found.stderr
    assert found.stdout.split() == [], "tracked files must not read or link a folder beside the checkout"


def test_readme_and_docs_link_only_to_files_in_the_repository() -> None:
    pages = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    assert REPO / "docs" / "architecture.md" in pages
    broken = []
    for page in pages:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if re.match(r"[a-z]+://|#|mailto:", target):
                continue
            path = (page.parent / target.split("#", 1)[0]).resolve()
            if not path.is_relative_to(REPO) or not path.exists():
                broken.append(f"{page.name}: {target}")
    assert broken == []


def test_the_golden_set_ships_whole_with_its_licences() -> None:
    root = DEFAULT_DATASET
    assert root == REPO / "evals" / "datasets" / "mmlongbench-ci"
    manifest = json.loads((root / "manifest.json").read_text())
    assert len(manifest) == 30
    for entry in manifest:
        pdf = root / "documents" / entry["file"]
        data = pdf.read_bytes()
        assert len(data) == entry["bytes"], pdf.name
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], f"{pdf.name} differs from the manifest"
    tracked = set(_git("ls-files", "evals/datasets/mmlongbench-ci").split())
    assert {f"evals/datasets/mmlongbench-ci/documents/{e['file']}" for e in manifest} <= tracked
    readme = (root / "README.md").read_text()
    assert "CC-BY-NC-4.0" in readme
    assert "github.com/mayubo2333/MMLongBench-Doc" in readme
    assert "Attribution-NonCommercial 4.0 International" in (root / "LICENSE.data-CC-BY-NC-4.0.md").read_text()
    assert "Apache License" in (root / "LICENSE.code-Apache-2.0.md").read_text()


@pytest.mark.slow
def test_a_clone_with_nothing_beside_it_runs_the_quick_eval(tmp_path: Path) -> None:
    """What a new user does: clone into an empty folder, then evaluate from there (this venv's packages)."""
    status = _git("status", "--porcelain", "--", "evals/datasets", "evals/dataset.py")
    assert status == "", "commit the golden set before this test can clone it"
    lonely = tmp_path / "empty"
    lonely.mkdir()
    clone = lonely / "pagewise"
    _git("clone", "--quiet", "--no-hardlinks", str(REPO), str(clone), cwd=lonely)
    assert sorted(p.name for p in lonely.iterdir()) == ["pagewise"]
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update({"DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(clone)})
    result = subprocess.run(
        [sys.executable, "-m", "app", "eval", "--quick", "--json", "--no-langfuse"],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["dataset"] == "mmlongbench-ci"
    assert Path(figures["results_file"]).is_relative_to(clone)
    assert figures["questions"]["retrieval_scored"] > 0
    assert figures["retrieval"]["hit@5"] > 0.5
    shutil.rmtree(clone)
