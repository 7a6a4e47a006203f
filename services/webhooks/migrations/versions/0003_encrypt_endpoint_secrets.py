"""Endpoint signing secrets encrypted at rest with the keys of TRADEWIND_WEBHOOKS_SECRET_KEYS.

Every stored secret (and previous secret) is encrypted under the first key; downgrade decrypts
them again. A database with endpoints needs the keys set to migrate either way.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import op

from tradewind.webhooks.adapters.secret_box import SecretBox
from tradewind.webhooks.settings import WebhooksSettings

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _rewrite(transform: Callable[[SecretBox, str], str]) -> None:
    connection = op.get_bind()
    rows = connection.execute(
        sa.text("SELECT id, secret, previous_secret FROM endpoints FOR UPDATE")
    ).all()
    if not rows:
        return
    box = SecretBox(WebhooksSettings().secret_keys)
    for endpoint_id, secret, previous in rows:
        connection.execute(
            sa.text(
                "UPDATE endpoints SET secret = :secret, previous_secret = :previous WHERE id = :id"
            ),
            {
                "id": endpoint_id,
                "secret": transform(box, secret),
                "previous": transform(box, previous) if previous is not None else None,
            },
        )


def upgrade() -> None:
    _rewrite(SecretBox.seal)


def downgrade() -> None:
    _rewrite(SecretBox.open)
