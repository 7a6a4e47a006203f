"""Endpoint signing secrets are encrypted at rest; key rotation keeps every endpoint working."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from alembic import command
from cryptography.fernet import Fernet, InvalidToken

from integration.webhooks.conftest import ServiceFactory
from integration.webhooks.harness import Receiver, Service, order_accepted
from support.infra import Infra
from support.internal import WEBHOOKS_SECRET_KEY
from support.polling import eventually
from tradewind.common.db import asyncpg_dsn
from tradewind.common.migrations import alembic_config, upgrade_database
from tradewind.webhooks.adapters.secret_box import SecretBox, reseal_all
from tradewind.webhooks.bootstrap import SERVICE_DIR
from unit.webhooks.spec_verifier import verify

OLD_KEY = "2-DDMgMUUAhZrAUxJG8N8vgJSAu9pFTcn3912F9AOYE="
NEW_KEY = "dyePYuxTV4EqJ9Ue0BNMPO7D7a38TrORysTgcJMNciI="


async def stored_secrets(database_url: str, endpoint_id: str) -> tuple[str, str | None]:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        row = await connection.fetchrow(
            "SELECT secret, previous_secret FROM endpoints WHERE id = $1", endpoint_id
        )
    finally:
        await connection.close()
    assert row is not None
    return row["secret"], row["previous_secret"]


async def delivered_and_verified(
    service: Service, receiver: Receiver, hook: str, secret: str
) -> None:
    before = len(receiver.at(hook))
    await service.publish(order_accepted("acc-1"))

    async def arrived() -> bool:
        return len(receiver.at(hook)) > before

    await eventually(arrived, message=f"no delivery at /{hook}")
    delivery = receiver.at(hook)[-1]
    verify(secret, delivery.headers, delivery.body)


async def test_secrets_are_stored_encrypted_and_deliveries_still_verify(
    service: Service, receiver: Receiver, database_url: str
) -> None:
    endpoint = await service.create_endpoint("acc-1", receiver.url("hook"))
    stored, _ = await stored_secrets(database_url, endpoint["id"])
    assert endpoint["secret"].startswith("whsec_")
    assert endpoint["secret"] not in stored
    assert Fernet(WEBHOOKS_SECRET_KEY).decrypt(stored.encode()).decode() == endpoint["secret"]
    await delivered_and_verified(service, receiver, "hook", endpoint["secret"])

    rotated = await service.api.post(
        f"/internal/v1/accounts/acc-1/webhooks/endpoints/{endpoint['id']}/rotate-secret"
    )
    new_secret = rotated.json()["secret"]
    stored, previous = await stored_secrets(database_url, endpoint["id"])
    assert previous is not None
    assert new_secret not in stored
    assert endpoint["secret"] not in previous
    assert Fernet(WEBHOOKS_SECRET_KEY).decrypt(previous.encode()).decode() == endpoint["secret"]
    await delivered_and_verified(service, receiver, "hook", new_secret)
    listed = await service.api.get(
        f"/internal/v1/accounts/acc-1/webhooks/endpoints/{endpoint['id']}"
    )
    assert "secret" not in listed.json()  # shown once, at creation or rotation


async def test_a_new_key_first_keeps_old_rows_valid_until_resealed(
    service_factory: ServiceFactory, receiver: Receiver, database_url: str
) -> None:
    async with service_factory(secret_keys=[OLD_KEY]) as service:
        old = await service.create_endpoint("acc-1", receiver.url("old"))
    # Rotation step 1: the new key first, the old one still listed.
    async with service_factory(secret_keys=[NEW_KEY, OLD_KEY]) as service:
        await delivered_and_verified(service, receiver, "old", old["secret"])
        new = await service.create_endpoint("acc-1", receiver.url("new"))
    new_stored, _ = await stored_secrets(database_url, new["id"])
    assert Fernet(NEW_KEY).decrypt(new_stored.encode()).decode() == new["secret"]
    old_stored, _ = await stored_secrets(database_url, old["id"])
    with pytest.raises(InvalidToken):
        Fernet(NEW_KEY).decrypt(old_stored.encode())
    # Step 2: re-encrypt every row under the new key; step 3: drop the old key.
    resealed = await reseal_all(asyncpg_dsn(database_url), SecretBox.from_keys(NEW_KEY, OLD_KEY))
    assert resealed == 2
    old_stored, _ = await stored_secrets(database_url, old["id"])
    assert Fernet(NEW_KEY).decrypt(old_stored.encode()).decode() == old["secret"]
    async with service_factory(secret_keys=[NEW_KEY]) as service:
        await delivered_and_verified(service, receiver, "old", old["secret"])


async def test_the_migration_encrypts_existing_secrets_and_its_downgrade_restores_them(
    infra: Infra,
) -> None:
    url = await infra.create_database("webhooks_secrets_migration")
    await asyncio.to_thread(upgrade_database, SERVICE_DIR, url, "0002")
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await connection.execute(
            "INSERT INTO endpoints (id, account_id, url, secret, previous_secret) "
            "VALUES ('ep_1', 'acc-1', 'https://example.com/', 'whsec_current', 'whsec_before')"
        )
        await asyncio.to_thread(upgrade_database, SERVICE_DIR, url, "0003")
        row = await connection.fetchrow("SELECT secret, previous_secret FROM endpoints")
        assert row is not None
        box = Fernet(WEBHOOKS_SECRET_KEY)
        assert row["secret"] != "whsec_current"
        assert box.decrypt(row["secret"].encode()) == b"whsec_current"
        assert box.decrypt(row["previous_secret"].encode()) == b"whsec_before"
        await asyncio.to_thread(command.downgrade, alembic_config(SERVICE_DIR, url), "0002")
        row = await connection.fetchrow("SELECT secret, previous_secret FROM endpoints")
        assert row is not None
        assert (row["secret"], row["previous_secret"]) == ("whsec_current", "whsec_before")
    finally:
        await connection.close()
