"""`python -m app ingest` as a user runs it: folders, tags, a bad file, the JSON summary, a re-run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO
from tests.helpers.pdfs import make_pdf


def _ingest(args: list[str], database_url: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url, "DATA_DIR": str(tmp_path / "data")}
    return subprocess.run(
        [sys.executable, "-m", "app", "ingest", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_ingest_cli_summary_failures_and_rerun(tmp_path: Path, database_url: str) -> None:
    folder = tmp_path / "docs"
    (folder / "nested").mkdir(parents=True)
    (folder / "a.pdf").write_bytes(make_pdf(["Annual report page one.", "Revenue table page two."]))
    (folder / "nested" / "b.PDF").write_bytes(make_pdf(["Second document."]))
    (folder / "broken.pdf").write_bytes(b"this is not a pdf")
    (folder / "notes.txt").write_text("ignored: not a PDF file name")

    first = _ingest([str(folder), "--tags", "finance, 2024", "--json"], database_url, tmp_path)
    assert first.returncode == 1, first.stderr
    summary = json.loads(first.stdout.strip().splitlines()[-1])
    assert {k: summary[k] for k in ("files", "pages_total", "pages_embedded", "pages_reused", "pages_deleted")} == {
        "files": 3,
        "pages_total": 3,
        "pages_embedded": 3,
        "pages_reused": 0,
        "pages_deleted": 0,
    }
    assert summary["chunks_written"] == 3
    assert summary["seconds"] > 0
    assert summary["failed"] == [{"file": "broken.pdf", "code": "not_a_pdf", "error": summary["failed"][0]["error"]}]

    again = _ingest([str(folder / "a.pdf"), str(folder / "nested" / "b.PDF"), "--json"], database_url, tmp_path)
    assert again.returncode == 0, again.stderr
    rerun = json.loads(again.stdout.strip().splitlines()[-1])
    assert (rerun["pages_embedded"], rerun["pages_reused"], rerun["chunks_written"]) == (0, 3, 0)

    human = _ingest([str(folder / "a.pdf")], database_url, tmp_path)
    assert "2 pages: 0 embedded, 2 reused" in human.stdout

    missing = _ingest([str(folder / "nope.pdf")], database_url, tmp_path)
    assert missing.returncode == 2
    assert "no such file" in missing.stderr


def test_ingest_on_a_fresh_data_dir_migrates_first(tmp_path: Path) -> None:
    (tmp_path / "one.pdf").write_bytes(make_pdf(["A first document."]))
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["DATA_DIR"] = str(tmp_path / "data")
    result = subprocess.run(
        [sys.executable, "-m", "app", "ingest", str(tmp_path / "one.pdf"), "--json"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1])["chunks_written"] == 1


def test_progress_off_a_terminal_is_a_log_line_and_on_a_terminal_a_bar(tmp_path: Path, database_url: str) -> None:
    (tmp_path / "one.pdf").write_bytes(make_pdf(["First page.", "Second page."]))
    (tmp_path / "two.pdf").write_bytes(make_pdf(["Another document."]))
    piped = _ingest([str(tmp_path / "one.pdf"), str(tmp_path / "two.pdf")], database_url, tmp_path)
    assert piped.returncode == 0, piped.stderr
    lines = [json.loads(line) for line in piped.stderr.splitlines() if line.startswith("{")]
    (final,) = [line for line in lines if line["logger"] == "pagewise.progress"]
    assert final["event"].startswith("ingest: 2/2 documents, 3 pages, ")
    assert (final["documents_done"], final["documents_total"], final["pages"]) == (2, 2, 3)

    import pty

    leader, follower = pty.openpty()
    env = {**os.environ, "DATABASE_URL": database_url, "DATA_DIR": str(tmp_path / "data")}
    with subprocess.Popen(
        [sys.executable, "-m", "app", "ingest", str(tmp_path / "one.pdf")],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=follower,
        text=True,
    ) as proc:
        os.close(follower)
        screen = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            screen += chunk
        out, _ = proc.communicate(timeout=300)
    os.close(leader)
    assert proc.returncode == 0
    text = screen.decode(errors="replace")
    assert "ingest" in text
    assert "1/1" in text, text
    assert "pagewise.progress" not in text, "a terminal gets the bar, not log lines"
    assert "1 files, 2 pages" in out
