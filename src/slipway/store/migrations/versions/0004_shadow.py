"""Shadow mode: the route table's mirror, shadow runs, and the pairs they collect.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("route_table") as batch:
        batch.add_column(sa.Column("mirror", sa.String(200), nullable=True))
        batch.add_column(sa.Column("mirror_bp", sa.Integer(), nullable=False, server_default=sa.text("0")))
        batch.add_column(sa.Column("mirror_run", sa.String(200), nullable=True))
    op.create_table(
        "shadows",
        sa.Column("deployment_id", sa.String(200), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("deployment_id", name="pk_shadows"),
    )
    op.create_index("ix_shadows_created_at", "shadows", ["created_at"])
    op.create_table(
        "shadow_pairs",
        sa.Column("pair_id", sa.String(200), nullable=False),
        sa.Column("deployment_id", sa.String(200), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("api", sa.String(64), nullable=False),
        sa.Column("category", sa.String(200), nullable=True),
        sa.Column("stream", sa.Boolean(), nullable=False),
        sa.Column("turns", sa.Integer(), nullable=False),
        sa.Column("input_text", sa.Text(), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("production", sa.JSON(), nullable=False),
        sa.Column("candidate", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("pair_id", name="pk_shadow_pairs"),
    )
    op.create_index("ix_shadow_pairs_deployment_id_at", "shadow_pairs", ["deployment_id", "at"])


def downgrade() -> None:
    op.drop_index("ix_shadow_pairs_deployment_id_at", table_name="shadow_pairs")
    op.drop_table("shadow_pairs")
    op.drop_index("ix_shadows_created_at", table_name="shadows")
    op.drop_table("shadows")
    with op.batch_alter_table("route_table") as batch:
        batch.drop_column("mirror_run")
        batch.drop_column("mirror_bp")
        batch.drop_column("mirror")
