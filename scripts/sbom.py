"""Writes a CycloneDX SBOM (JSON) of the locked runtime dependencies: requirements.txt and requirements-nodeps.txt.

`make sbom` runs it; the file lists every pinned package with its version, purl and the hashes of
its distributions, so a deploy can be checked against what was tested. Offline: it reads the locks.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LOCKS = ("requirements.txt", "requirements-nodeps.txt")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=REPO / ".data" / "sbom.cdx.json")
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON object (last line)")
    args = parser.parse_args()
    locked = "".join((REPO / name).read_text() for name in LOCKS)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}  # it warns that a lock has no dependency graph: none is claimed
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("cyclonedx-py")),
            "requirements",
            "-",
            "--pyproject",
            str(REPO / "pyproject.toml"),
            "--output-reproducible",
            "-o",
            str(args.output),
        ],
        input=locked,
        text=True,
        capture_output=True,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        print(f"error [sbom_failed]: cyclonedx-py could not write the SBOM:\n{done.stderr}", file=sys.stderr)
        return 1
    components = json.loads(args.output.read_text())["components"]
    summary = {"sbom": str(args.output), "format": "CycloneDX JSON", "components": len(components)}
    print(json.dumps(summary) if args.json else f"SBOM of {len(components)} locked runtime packages: {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
