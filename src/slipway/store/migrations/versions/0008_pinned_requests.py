"""Requests a client pinned to a slot (X-Slipway-Slot) are marked, so no judgment counts them.

A pinned request did not go where the route table sent it: an operator's
check of a standby, a debugging client, or someone who wants a canary to
look worse (or better) than it is. They stay recorded, so nothing answered
goes unseen, but canary, bake, drift and postmortem windows leave them out.
The two windowed indexes gain `pinned` as their last column, so leaving
them out keeps the canary's counts index-only.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.add_column(sa.Column("pinned", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.drop_index("ix_requests_slot_started_at", table_name="requests")
    op.create_index("ix_requests_slot_started_at", "requests", ["slot", "started_at", "pinned"])
    op.drop_index("ix_requests_slot_category_started_at", table_name="requests")
    op.create_index(
        "ix_requests_slot_category_started_at",
        "requests",
        ["slot", "category", "started_at", "stream", "pinned"],
    )


def downgrade() -> None:
    op.drop_index("ix_requests_slot_category_started_at", table_name="requests")
    op.create_index(
        "ix_requests_slot_category_started_at", "requests", ["slot", "category", "started_at", "stream"]
    )
    op.drop_index("ix_requests_slot_started_at", table_name="requests")
    op.create_index("ix_requests_slot_started_at", "requests", ["slot", "started_at"])
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("pinned")
