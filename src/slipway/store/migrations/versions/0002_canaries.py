"""Canaries: one row of state per canary, and its timeline of checks and actions.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "canaries",
        sa.Column("deployment_id", sa.String(200), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("deployment_id", name="pk_canaries"),
    )
    op.create_index("ix_canaries_created_at", "canaries", ["created_at"])
    op.create_table(
        "canary_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("deployment_id", sa.String(200), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("phase", sa.Integer(), nullable=False),
        sa.Column("weight_bp", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("verdict", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["canaries.deployment_id"],
            name="fk_canary_events_deployment_id_canaries",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_canary_events"),
    )
    op.create_index("ix_canary_events_deployment_id_at", "canary_events", ["deployment_id", "at"])


def downgrade() -> None:
    op.drop_index("ix_canary_events_deployment_id_at", table_name="canary_events")
    op.drop_table("canary_events")
    op.drop_index("ix_canaries_created_at", table_name="canaries")
    op.drop_table("canaries")
