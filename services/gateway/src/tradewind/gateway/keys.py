"""Manage API keys of any account: ``python -m tradewind.gateway.keys create --account acme``.

The operator's tool: it works on the gateway's database (TRADEWIND_GATEWAY_DATABASE_URL) and
tells every gateway through Redis, like the HTTP routes, but for any account.
``--budget orders=500/60`` gives the key its own rate-limit budget (500 order writes per 60 s)
instead of the gateway's default, stored in the key's record; repeat it for several budgets.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from tradewind.gateway.domain.auth_model import ALL_SCOPES, DEFAULT_SCOPES
from tradewind.gateway.domain.rate_limits import BUDGET_NAMES, Budget
from tradewind.gateway.handlers.api_keys import open_key_store
from tradewind.gateway.settings import GatewaySettings


def budget(text: str) -> Budget:
    """``orders=500/60``: a quota per window (seconds) of one budget."""
    name, _, rest = text.partition("=")
    quota, _, window = rest.partition("/")
    if name not in BUDGET_NAMES or not quota.isdigit() or not window.isdigit() or window == "0":
        raise argparse.ArgumentTypeError(
            f"expected NAME=QUOTA/WINDOW_S with NAME one of {', '.join(BUDGET_NAMES)}"
        )
    return Budget(name, int(quota), int(window))  # type: ignore[arg-type]


async def _run(args: argparse.Namespace) -> int:
    settings = GatewaySettings()
    shared = settings.shared
    async with open_key_store(
        settings.database_url,
        shared.redis_url,
        shared.namespace,
        cache_ttl_s=settings.key_cache_ttl_s,
    ) as store:
        if args.command == "create":
            scopes = frozenset(args.scope) if args.scope else DEFAULT_SCOPES
            issued = await store.create(args.account, scopes, rate_budgets=tuple(args.budget or ()))
            sys.stdout.write(
                f"key_id: {issued.key_id}\napi_key: {issued.secret}\n"
                "Store the api_key now: it is not kept and cannot be shown again.\n"
            )
        elif args.command == "list":
            for record in await store.list_keys(args.account):
                state = "revoked" if record.revoked else "active"
                sys.stdout.write(f"{record.key_id}\t{state}\t{' '.join(sorted(record.scopes))}\n")
        elif args.command == "revoke":
            if not await store.revoke(args.account, args.key_id):
                sys.stderr.write(f"no key {args.key_id} for account {args.account}\n")
                return 1
            sys.stdout.write(f"revoked {args.key_id}\n")
        elif args.command == "scopes":
            changed = await store.set_scopes(args.account, args.key_id, frozenset(args.scope))
            if changed is None or changed.revoked:
                sys.stderr.write(f"no active key {args.key_id} for account {args.account}\n")
                return 1
            sys.stdout.write(f"{args.key_id}: {' '.join(sorted(changed.scopes))}\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tradewind.gateway.keys")
    sub = parser.add_subparsers(dest="command", required=True)
    create = sub.add_parser("create", help="issue a new key (printed once)")
    create.add_argument("--account", required=True)
    create.add_argument(
        "--scope",
        action="append",
        choices=sorted(ALL_SCOPES),
        help="repeat; default: every scope except admin",
    )
    create.add_argument(
        "--budget",
        action="append",
        type=budget,
        help="the key's own rate limit, e.g. orders=500/60; repeat; default: the gateway's",
    )
    listing = sub.add_parser("list", help="list an account's keys (ids, state, scopes)")
    listing.add_argument("--account", required=True)
    revoke = sub.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("--account", required=True)
    revoke.add_argument("key_id")
    scopes = sub.add_parser("scopes", help="set a key's scopes")
    scopes.add_argument("--account", required=True)
    scopes.add_argument("--scope", action="append", required=True, choices=sorted(ALL_SCOPES))
    scopes.add_argument("key_id")
    return asyncio.run(_run(parser.parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
