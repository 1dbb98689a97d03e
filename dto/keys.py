"""`dto keys create|list|revoke`: API keys of the system whose state lives in DTO_HOME."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from trading.auth import create_key
from trading.config import dto_home, external_urls
from trading.storage import ApiKeyRow, ApiKeyStore, migrate, open_pool, start_storage


@asynccontextmanager
async def key_store() -> AsyncIterator[ApiKeyStore]:
    """The API-key table of DTO_HOME's database (embedded servers are started, or reused if running)."""
    database_url, redis_url = external_urls()
    servers = start_storage(dto_home(), database_url=database_url, redis_url=redis_url)
    try:
        pool = await open_pool(servers.database_url)
        try:
            await migrate(pool)
            yield ApiKeyStore(pool)
        finally:
            await pool.close()
    finally:
        servers.stop()


def _row(row: ApiKeyRow) -> dict[str, Any]:
    return {
        "key_id": str(row.key_id),
        "prefix": row.prefix,
        "scopes": list(row.scopes),
        "user": row.user_name,
        "created_at": row.created_at.isoformat(),
        "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None,
        "last_used_at": row.last_used_at.isoformat() if row.last_used_at else None,
    }


async def _create(args: argparse.Namespace) -> int:
    async with key_store() as store:
        key, row = await create_key(store, args.scope, args.user)
    if args.json:
        print(json.dumps({"key": key, "key_id": str(row.key_id), "scopes": list(row.scopes)}))
    else:
        print(f"API key (shown once, store it now): {key}")
        print(f"id {row.key_id}  scopes {', '.join(row.scopes)}")
    return 0


async def _list(args: argparse.Namespace) -> int:
    async with key_store() as store:
        rows = [_row(r) for r in await store.list()]
    if args.json:
        print(json.dumps(rows))
        return 0
    for r in rows:
        state = f"revoked {r['revoked_at']}" if r["revoked_at"] else "active"
        used = f"last used {r['last_used_at']}" if r["last_used_at"] else "never used"
        print(f"{r['key_id']}  dto_{r['prefix']}_...  {','.join(r['scopes']):<16} {state}  {used}  "
              f"user {r['user'] or '-'}")
    return 0


async def _revoke(args: argparse.Namespace) -> int:
    async with key_store() as store:
        target = args.key_id
        row = await store.find_by_prefix(target) if len(target) == 8 else None
        done = await store.revoke(str(row.key_id) if row else target)
    if not done:
        print(f"dto keys revoke: error: no active key {target!r}", file=sys.stderr)
        return 2
    print(f"revoked {target}")
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    action = {"create": _create, "list": _list, "revoke": _revoke}[args.keys_command]
    return asyncio.run(action(args))


def add_parser(sub: Any) -> None:
    keys = sub.add_parser("keys", help="create, list and revoke API keys (stored hashed in DTO_HOME)")
    actions = keys.add_subparsers(dest="keys_command", required=True)
    create = actions.add_parser("create", help="create a key; it is shown once")
    create.add_argument(
        "--scope",
        action="append",
        required=True,
        choices=["read", "trade", "admin"],
        help="read, trade or admin (admin includes trade, trade includes read); repeatable",
    )
    create.add_argument("--user", default=None, help="owner name (created if new)")
    create.add_argument("--json", action="store_true", help='print {"key": ..., "scopes": [...]}')
    listing = actions.add_parser("list", help="every key, without secrets, with when it was last used")
    listing.add_argument("--json", action="store_true")
    revoke = actions.add_parser("revoke", help="revoke a key by id or by its 8-character prefix")
    revoke.add_argument("key_id")
