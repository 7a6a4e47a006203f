"""Endpoint signing secrets encrypted at rest (Fernet: AES-128-CBC + HMAC-SHA256).

Keys come from settings (``TRADEWIND_WEBHOOKS_SECRET_KEYS``, comma-separated Fernet keys): the
first encrypts, every one decrypts (MultiFernet), so a key is rotated by putting the new one
first, re-encrypting (``python -m tradewind.webhooks.adapters.secret_box rotate``) and then
dropping the old one. docs/webhooks.md walks through it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

import asyncpg
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr

from tradewind.common.db import asyncpg_dsn

log = logging.getLogger(__name__)


class SecretKeyMissing(RuntimeError):
    """No key to encrypt secrets with: the service refuses to store them in clear."""


class SecretBox:
    def __init__(self, keys: Sequence[SecretStr]) -> None:
        if not keys:
            raise SecretKeyMissing(
                "TRADEWIND_WEBHOOKS_SECRET_KEYS is required: endpoint secrets are stored "
                "encrypted (generate a key with: "
                "python -m tradewind.webhooks.adapters.secret_box new-key)"
            )
        self._fernet = MultiFernet([Fernet(key.get_secret_value().encode()) for key in keys])

    @classmethod
    def from_keys(cls, *keys: str) -> SecretBox:
        return cls([SecretStr(key) for key in keys])

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode("ascii")

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode("ascii")).decode()
        except InvalidToken:
            raise InvalidToken("an endpoint secret decrypts with none of the keys") from None

    def reseal(self, sealed: str) -> str:
        """The same secret under the first key (MultiFernet.rotate)."""
        return self._fernet.rotate(sealed.encode("ascii")).decode("ascii")


def new_key() -> str:
    return Fernet.generate_key().decode("ascii")


async def reseal_all(dsn: str, box: SecretBox) -> int:
    """Re-encrypt every stored secret under the first key; the number of endpoints done."""
    connection = await asyncpg.connect(dsn)
    try:
        async with connection.transaction():
            rows = await connection.fetch(
                "SELECT id, secret, previous_secret FROM endpoints FOR UPDATE"
            )
            for row in rows:
                previous = row["previous_secret"]
                await connection.execute(
                    "UPDATE endpoints SET secret = $2, previous_secret = $3 WHERE id = $1",
                    row["id"],
                    box.reseal(row["secret"]),
                    box.reseal(previous) if previous is not None else None,
                )
        return len(rows)
    finally:
        await connection.close()


def main() -> None:
    from tradewind.webhooks.settings import WebhooksSettings  # the settings import this module

    parser = argparse.ArgumentParser(prog="python -m tradewind.webhooks.adapters.secret_box")
    command = parser.add_subparsers(dest="command", required=True)
    command.add_parser("new-key", help="print a new Fernet key")
    command.add_parser("rotate", help="re-encrypt every endpoint secret under the first key")
    args = parser.parse_args()
    if args.command == "new-key":
        sys.stdout.write(new_key() + "\n")
        return
    settings = WebhooksSettings()
    done = asyncio.run(
        reseal_all(asyncpg_dsn(settings.database_url), SecretBox(settings.secret_keys))
    )
    sys.stdout.write(f"re-encrypted the secrets of {done} endpoints\n")


if __name__ == "__main__":
    main()
