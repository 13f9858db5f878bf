"""Several replicas on one store: their heartbeats, and the leadership row with its epoch.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    leadership = op.create_table(
        "leadership",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("holder", sa.String(200), nullable=True),
        sa.Column("since", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_leadership"),
    )
    # The one row every replica campaigns for: nobody has led yet (epoch 0, no holder).
    op.bulk_insert(leadership, [{"id": 1, "epoch": 0, "holder": None, "since": None}])
    op.create_table(
        "replicas",
        sa.Column("id", sa.String(200), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.Double(), nullable=False),
        sa.Column("heartbeat_at", sa.Double(), nullable=False),
        sa.Column("route_version", sa.Integer(), nullable=False),
        sa.Column("records_queued", sa.BigInteger(), nullable=False),
        sa.Column("records_dropped", sa.BigInteger(), nullable=False),
        sa.Column("leader_epoch", sa.Integer(), nullable=True),
        sa.Column("url", sa.String(500), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_replicas"),
    )
    op.create_index("ix_replicas_heartbeat_at", "replicas", ["heartbeat_at"])


def downgrade() -> None:
    op.drop_index("ix_replicas_heartbeat_at", table_name="replicas")
    op.drop_table("replicas")
    op.drop_table("leadership")
