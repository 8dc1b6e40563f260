"""The embedded server: external-URL path, data that survives restarts, one server per data dir."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psutil
import psycopg2

from app.store import migrate
from app.store.embedded import start_embedded, stop_embedded
from tests.conftest import REPO


def _run_app(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "DATA_DIR"}}
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=REPO,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _postmasters(pgdata: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmd = proc.info["cmdline"] or []
        if proc.info["name"] == "postgres" and "-D" in cmd and cmd[cmd.index("-D") + 1] == str(pgdata):
            found.append(proc)
    return found


def test_database_url_path_migrates_an_external_server(tmp_path: Path) -> None:
    """A second embedded server reached through its socket URL stands in for an external PostgreSQL."""
    other = tmp_path / "external"
    url = start_embedded(other, database="external")
    try:
        result = _run_app(["migrate"], {"DATABASE_URL": url, "DATA_DIR": str(tmp_path / "unused")})
        assert result.returncode == 0, result.stderr
        assert migrate.current_revision(url) == migrate.head_revision()
        status = _run_app(["db-status", "--json"], {"DATABASE_URL": url, "DATA_DIR": str(tmp_path / "unused")})
        report = json.loads(status.stdout.strip().splitlines()[-1])
        assert report["server_version"].startswith("18")
        assert report["pgvector_version"] == "0.8.5"
        assert {"documents", "files"} <= {t["name"] for t in report["tables"]}
        assert any(i["method"] == "hnsw" for i in report["indexes"])
        text = _run_app(["db-status"], {"DATABASE_URL": url, "DATA_DIR": str(tmp_path / "unused")}).stdout
        assert "pgvector 0.8.5" in text
        assert f"schema revision {migrate.head_revision()}" in text
        assert "hnsw" in text
        assert "KiB" in text
        assert not (tmp_path / "unused" / "postgres").exists(), "with DATABASE_URL no embedded server is started"
    finally:
        stop_embedded(other)


def test_data_survives_a_restart(tmp_path: Path) -> None:
    env = {"DATA_DIR": str(tmp_path)}
    assert _run_app(["migrate"], env).returncode == 0
    pgdata = (tmp_path / "postgres").resolve()
    assert _postmasters(pgdata) == [], "the server stops when the last process using it exits"
    write = (
        "from pathlib import Path; import psycopg2; from app.store.embedded import start_embedded;"
        f"c=psycopg2.connect(start_embedded(Path({str(tmp_path)!r}))); c.autocommit=True;"
        "c.cursor().execute(\"INSERT INTO files (sha256, size, data) VALUES (repeat('a',64), 1, 'x')\"); c.close()"
    )
    subprocess.run([sys.executable, "-c", write], cwd=REPO, check=True, timeout=60)
    assert _postmasters(pgdata) == []
    read = (
        "from pathlib import Path; import psycopg2; from app.store.embedded import start_embedded;"
        f"c=psycopg2.connect(start_embedded(Path({str(tmp_path)!r}))); cur=c.cursor();"
        "cur.execute('SELECT count(*) FROM files'); print(cur.fetchone()[0]); c.close()"
    )
    out = subprocess.run([sys.executable, "-c", read], cwd=REPO, check=True, timeout=60, capture_output=True, text=True)
    assert out.stdout.strip() == "1"


def test_two_processes_sharing_a_data_dir_share_one_server(tmp_path: Path) -> None:
    hold = (
        "import sys, time; from pathlib import Path; from app.store.embedded import start_embedded;"
        "print(start_embedded(Path(sys.argv[1])), flush=True); sys.stdin.readline()"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", hold, str(tmp_path)],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        urls = [p.stdout.readline().strip() for p in procs if p.stdout]
        assert urls[0] == urls[1]
        assert len(_postmasters((tmp_path / "postgres").resolve())) == 1
        # the first process leaving must not stop the server the second one still uses
        assert procs[0].stdin is not None
        procs[0].stdin.write("\n")
        procs[0].stdin.flush()
        procs[0].wait(30)
        conn = psycopg2.connect(urls[1])
        conn.close()
    finally:
        for p in procs:
            if p.poll() is None and p.stdin:
                p.stdin.write("\n")
                p.stdin.flush()
            p.communicate(timeout=30)
    assert _postmasters((tmp_path / "postgres").resolve()) == []
