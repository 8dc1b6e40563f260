"""Release checks as `make sbom` and `make audit` run them: the real cyclonedx-py and pip-audit on our locks."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import REPO

LOCKS = ("requirements.txt", "requirements-nodeps.txt")


def _locked() -> dict[str, str]:
    pins = {}
    for name in LOCKS:
        for match in re.finditer(r"^([A-Za-z0-9_.-]+)==(\S+)", (REPO / name).read_text(), re.M):
            pins[re.sub(r"[-_.]+", "-", match[1]).lower()] = match[2]
    return pins


def _script(name: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO / "scripts" / name), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, **(env or {})},
    )


def test_the_sbom_lists_every_locked_runtime_package(tmp_path: Path) -> None:
    target = tmp_path / "sbom.cdx.json"
    done = _script("sbom.py", "-o", str(target), "--json")
    assert done.returncode == 0, done.stderr
    bom = json.loads(target.read_text())
    assert bom["bomFormat"] == "CycloneDX"
    assert bom["metadata"]["component"]["name"] == "pagewise"
    listed = {re.sub(r"[-_.]+", "-", c["name"]).lower(): c["version"] for c in bom["components"]}
    assert listed == _locked()
    torch = next(c for c in bom["components"] if c["name"] == "torch")
    assert torch["purl"] == "pkg:pypi/torch@2.13.0%2Bcpu"
    assert json.loads(done.stdout.splitlines()[-1])["components"] == len(listed)


class _FakeOSV(BaseHTTPRequestHandler):
    vulnerable: tuple[str, ...] = ()

    def do_POST(self) -> None:
        query = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        name = query["package"]["name"]
        body: dict[str, object] = {}
        if name in self.vulnerable:
            body = {
                "vulns": [
                    {
                        "id": f"PYSEC-0000-{name}",
                        "summary": "made up for the test",
                        "affected": [
                            {
                                "package": {"name": name, "ecosystem": "PyPI"},
                                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "999.0"}]}],
                            }
                        ],
                    }
                ]
            }
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_: object) -> None:
        return


@pytest.fixture
def osv() -> Iterator[tuple[str, type[_FakeOSV]]]:
    handler = type("Handler", (_FakeOSV,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/v1/query", handler
    server.shutdown()
    server.server_close()


def test_audit_with_a_reachable_service_checks_every_package_and_fails_on_a_vulnerability(
    osv: tuple[str, type[_FakeOSV]],
) -> None:
    url, handler = osv
    clean = _script("audit.py", "--service", "osv", "--osv-url", url, "--json")
    assert clean.returncode == 0, clean.stderr
    summary = json.loads(clean.stdout.splitlines()[-1])
    assert (summary["done"], summary["checked"], summary["vulnerable"]) == (True, len(_locked()), [])
    assert "no known vulnerabilities" in clean.stderr

    handler.vulnerable = ("limits",)
    found = _script("audit.py", "--service", "osv", "--osv-url", url, "--json")
    assert found.returncode == 1
    summary = json.loads(found.stdout.splitlines()[-1])
    assert summary["vulnerable"] == [{"name": "limits", "version": _locked()["limits"], "ids": ["PYSEC-0000-limits"]}]
    assert "VULNERABLE limits" in found.stderr


def test_audit_without_a_service_says_so_and_fails_only_when_strict() -> None:
    closed = "http://127.0.0.1:9/v1/query"  # discard port: nothing listens
    lenient = _script("audit.py", "--service", "osv", "--osv-url", closed, "--timeout", "2", "--json")
    assert lenient.returncode == 0
    assert "audit NOT DONE" in lenient.stderr
    assert json.loads(lenient.stdout.splitlines()[-1])["done"] is False
    strict = _script("audit.py", "--service", "osv", "--osv-url", closed, "--timeout", "2", env={"AUDIT_STRICT": "1"})
    assert strict.returncode == 1
    assert "AUDIT_STRICT=1: failing" in strict.stderr
