"""`python -m app keys create|list|revoke`: manage API keys from the shell."""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from app.auth.keys import create_key, list_keys, revoke_key
from app.store import db


def run_keys(database_url: str, args: argparse.Namespace) -> int:
    async def run() -> Any:
        engine = db.create_engine(database_url, pool_size=1)
        try:
            async with engine.begin() as conn:
                if args.keys_command == "create":
                    key, plain = await create_key(conn, args.name, args.scopes)
                    return {"id": str(key.id), "name": key.name, "scopes": list(key.scopes), "key": plain}
                if args.keys_command == "revoke":
                    key = await revoke_key(conn, args.key)
                    return {"id": str(key.id), "name": key.name, "revoked": True}
                return [
                    {
                        "id": str(k.id),
                        "name": k.name,
                        "prefix": k.prefix,
                        "scopes": list(k.scopes),
                        "created_at": k.created_at.isoformat(),
                        "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None,
                    }
                    for k in await list_keys(conn)
                ]
        finally:
            await engine.dispose()

    result = asyncio.run(run())
    if args.json:
        print(json.dumps(result))
    elif args.keys_command == "create":
        print(f"API key {result['name']!r} ({', '.join(result['scopes'])}), shown once, keep it safe:\n{result['key']}")
    elif args.keys_command == "revoke":
        print(f"revoked {result['name']!r} ({result['id']})")
    else:
        for k in result:
            state = f"revoked {k['revoked_at']}" if k["revoked_at"] else "active"
            print(f"{k['prefix']}…  {k['name']:<30} {','.join(k['scopes']):<24} {state}  id={k['id']}")
    return 0


def add_parser(sub: Any) -> None:
    keys = sub.add_parser("keys", help="create, list or revoke API keys")
    keys.add_argument("--json", action="store_true", help="machine-readable output")
    actions = keys.add_subparsers(dest="keys_command", required=True)
    create = actions.add_parser("create", help="a new key (printed once)")
    create.add_argument("--name", required=True)
    create.add_argument("--scopes", default="chat", help="comma-separated: chat, docs:write, admin (default: chat)")
    actions.add_parser("list", help="every key, active or revoked (never the key itself)")
    revoke = actions.add_parser("revoke", help="revoke by id or prefix")
    revoke.add_argument("key", metavar="ID_OR_PREFIX")
