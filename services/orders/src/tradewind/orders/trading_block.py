"""The operator's kill switch: ``python -m tradewind.orders.trading_block block ACCOUNT --reason``.

Publishes the same command as the gateway's ``PUT /api/v1/account/trading-block``, as an
operator: the orders service cancels the account's open orders and rejects its new orders and
replaces until ``unblock``, and the account cannot lift an operator's block itself. It needs
only the broker (TRADEWIND_AMQP_URL, TRADEWIND_NAMESPACE); the outcome is the
``account.trading_blocked`` event, and ``GET /api/v1/account/trading-block`` shows it.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime

from tradewind.common.broker import Broker
from tradewind.common.contracts import BlockTrading, Contract, TradingBlockedBy, UnblockTrading
from tradewind.common.envelope import event_source, new_event
from tradewind.common.settings import SharedSettings


def command_for(args: argparse.Namespace) -> Contract:
    now = datetime.now(UTC)
    if args.command == "block":
        return BlockTrading(
            account_id=args.account,
            reason=args.reason,
            blocked_by=TradingBlockedBy.OPERATOR,
            requested_at=now,
        )
    return UnblockTrading(
        account_id=args.account, unblocked_by=TradingBlockedBy.OPERATOR, requested_at=now
    )


async def _publish(command: Contract, account_id: str) -> None:
    broker = Broker.from_settings(SharedSettings(), service="orders-operator")
    await broker.connect()
    try:
        await broker.publish_command(
            new_event(
                source=event_source("orders-operator"),
                data=command,
                event_type=command.TYPE,
                subject=account_id,
                account_id=account_id,
            )
        )
    finally:
        await broker.close()


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tradewind.orders.trading_block", description=__doc__.split("\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    block = commands.add_parser("block", help="block the account's trading, cancel its orders")
    block.add_argument("account")
    block.add_argument("--reason", required=True, help="why (shown to the account)")
    unblock = commands.add_parser("unblock", help="lift the account's block, whoever set it")
    unblock.add_argument("account")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    try:
        command = command_for(args)
    except ValueError as invalid:
        sys.stderr.write(f"{invalid}\n")
        return 2
    asyncio.run(_publish(command, args.account))
    sys.stdout.write(f"{command.TYPE} sent for {args.account}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
