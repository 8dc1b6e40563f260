"""`python -m app serve` as `make run` starts it: no env vars but a data dir and a port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

from tests.conftest import REPO
from tests.helpers.redis_server import free_port


def _start(data_dir: Path, port: int, **extra: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "FORWARDED_ALLOW_IPS"}}
    env.update({"DATA_DIR": str(data_dir), "PORT": str(port), "LOG_FORMAT": "json", **extra})
    return subprocess.Popen(
        [sys.executable, "-m", "app", "serve"], cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def _wait_ready(port: int, proc: subprocess.Popen[bytes], timeout: float = 60) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        assert proc.poll() is None, "the server exited during start"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200:
                return time.monotonic() - started
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"not ready within {timeout} s")


def _health_check(port: int, *args: str) -> subprocess.CompletedProcess[str]:
    """What the image's HEALTHCHECK runs (PORT from the environment, as in the container)."""
    env = {**os.environ, "PORT": str(port)}
    return subprocess.run(
        [sys.executable, "-m", "app", "health-check", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    proc.wait(30)


def _postgres_running(pgdata: Path) -> bool:
    for p in psutil.process_iter(["name", "cmdline"]):
        cmd = p.info["cmdline"] or []
        if p.info["name"] == "postgres" and str(pgdata) in cmd:
            return True
    return False


def test_serve_answers_health_and_ready_and_keeps_data_across_restarts(tmp_path: Path) -> None:
    port = free_port()
    proc = _start(tmp_path, port)
    try:
        _wait_ready(port, proc)
        health = httpx.get(f"http://127.0.0.1:{port}/health")
        assert health.json() == {"status": "ok"}
        assert "server" not in health.headers, "the server does not name itself"
        assert health.headers["x-content-type-options"] == "nosniff"
        check = _health_check(port)
        assert check.returncode == 0, check.stderr
        assert check.stdout.startswith(f"healthy: http://127.0.0.1:{port}/health")
        assert _health_check(port, "--ready").stdout.startswith("healthy:")
        key_file = tmp_path / "api-key"
        assert key_file.stat().st_mode & 0o777 == 0o600, "the first admin key is readable by its owner only"
        key = key_file.read_text().strip()
        models = httpx.get(f"http://127.0.0.1:{port}/api/v1/models", headers={"Authorization": f"Bearer {key}"})
        assert models.status_code == 200
        import psycopg2

        from app.store.embedded import start_embedded, stop_embedded

        conn = psycopg2.connect(start_embedded(tmp_path))
        conn.autocommit = True
        conn.cursor().execute("INSERT INTO documents (file_name) VALUES ('kept.pdf')")
        conn.close()
        stop_embedded(tmp_path)
    finally:
        _stop(proc)
    pgdata = (tmp_path / "postgres").resolve()
    assert not _postgres_running(pgdata), "stopping the app stops the embedded server"
    down = _health_check(port)
    assert down.returncode == 1
    assert "did not answer" in down.stderr

    proc = _start(tmp_path, port, RATE_LIMIT_PER_IP="3/hour")
    try:
        _wait_ready(port, proc)
        forged = [
            httpx.get(
                f"http://127.0.0.1:{port}/api/v1/models", headers={"X-Forwarded-For": f"203.0.113.{n}"}
            ).status_code
            for n in range(4)
        ]
        assert forged == [401, 401, 401, 429], "X-Forwarded-For from a client is not believed by default"
        import psycopg2

        from app.store.embedded import start_embedded, stop_embedded

        conn = psycopg2.connect(start_embedded(tmp_path))
        cur = conn.cursor()
        cur.execute("SELECT file_name FROM documents")
        assert cur.fetchall() == [("kept.pdf",)]
        conn.close()
        stop_embedded(tmp_path)
    finally:
        _stop(proc)


def test_invalid_setting_stops_start_with_the_variable_named(tmp_path: Path) -> None:
    env = {**os.environ, "DATA_DIR": str(tmp_path), "PORT": "not-a-port"}
    result = subprocess.run(
        [sys.executable, "-m", "app", "serve"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "PORT" in result.stderr
    assert "invalid_config" in result.stderr


def test_a_killed_embedded_postgres_is_started_again_and_meanwhile_requests_get_503(tmp_path: Path) -> None:
    port = free_port()
    proc = _start(tmp_path, port)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(port, proc)
        key = (tmp_path / "api-key").read_text().strip()
        pgdata = (tmp_path / "postgres").resolve()
        postmaster = int((pgdata / "postmaster.pid").read_text().split()[0])
        os.kill(postmaster, signal.SIGKILL)
        wrong = httpx.get(base + "/api/v1/models", headers={"X-API-Key": "pw_wrong"}, timeout=10)
        right = httpx.get(base + "/api/v1/docs", headers={"X-API-Key": key}, timeout=10)
        # the supervisor may already have it back; a 500 is never right
        assert wrong.status_code in {503, 401}, wrong.text
        assert right.status_code in {503, 200}, right.text
        for response in (wrong, right):
            if response.status_code == 503:
                assert response.json()["error"]["code"] == "database_unavailable"
        deadline = time.monotonic() + 60
        while httpx.get(base + "/ready", timeout=10).status_code != 200:
            assert time.monotonic() < deadline, "the embedded PostgreSQL did not come back within 60 s"
            time.sleep(0.5)
        new_postmaster = int((pgdata / "postmaster.pid").read_text().split()[0])
        assert new_postmaster != postmaster
        assert httpx.get(base + "/api/v1/docs", headers={"X-API-Key": key}, timeout=10).status_code == 200
        assert httpx.get(base + "/api/v1/models", headers={"X-API-Key": "pw_wrong"}, timeout=10).status_code == 401
    finally:
        _stop(proc)
    assert not _postgres_running(pgdata), "stopping the app stops the restarted server too"


def test_metrics_with_two_workers_count_every_worker(tmp_path: Path) -> None:
    port = free_port()
    proc = _start(tmp_path, port, WORKERS="2")
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(port, proc, timeout=120)
        time.sleep(3)  # the second worker too
        with httpx.Client(base_url=base, timeout=10) as client:
            before = _health_count(client.get("/metrics").text)
            for _ in range(30):
                with httpx.Client(base_url=base, timeout=10) as fresh:  # new connections spread over workers
                    assert fresh.get("/health").status_code == 200
            scrapes = []
            for _ in range(6):
                with httpx.Client(base_url=base, timeout=10) as fresh:
                    scrapes.append(_health_count(fresh.get("/metrics").text))
        assert scrapes == [before + 30] * 6, (before, scrapes)
        assert list((tmp_path / "metrics").iterdir()), "each worker writes its counters to the shared folder"
    finally:
        _stop(proc)
    assert not list((tmp_path / "metrics").iterdir()), "the folder goes with the server"


def _health_count(text: str) -> float:
    prefix = 'http_requests_total{handler="/health",method="GET",status="2xx"} '
    return sum(float(line[len(prefix) :]) for line in text.splitlines() if line.startswith(prefix))
