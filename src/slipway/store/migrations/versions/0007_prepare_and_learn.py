"""What the lifecycle around a rollout keeps: request inputs, evaluation suites and runs,
checklists, rollback drills, and a drill's pinned route.

Request inputs live in their own table so the narrow `requests` rows that
every canary check scans stay narrow; a request without a stored input (an
older one, or inputs not recorded) simply has no row.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "request_inputs",
        sa.Column("request_id", sa.String(200), nullable=False),
        sa.Column("input_text", sa.Text(), nullable=False),
        sa.Column("turns", sa.Integer(), nullable=False),
        sa.Column("request", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("request_id", name="pk_request_inputs"),
    )
    op.create_table(
        "eval_suites",
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("rule", sa.JSON(), nullable=False),
        sa.Column("cases", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("name", "version", name="pk_eval_suites"),
    )
    op.create_table(
        "eval_runs",
        sa.Column("id", sa.String(200), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("suite", sa.String(200), nullable=False),
        sa.Column("suite_version", sa.Integer(), nullable=False),
        sa.Column("slot", sa.String(200), nullable=False),
        sa.Column("slot_version", sa.String(400), nullable=False),
        sa.Column("against", sa.String(200), nullable=True),
        sa.Column("against_version", sa.String(400), nullable=True),
        sa.Column("deployment_id", sa.String(200), nullable=True),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_eval_runs"),
    )
    op.create_index("ix_eval_runs_suite", "eval_runs", ["suite", "at"])
    op.create_index("ix_eval_runs_slot_version", "eval_runs", ["slot_version", "at"])
    op.create_table(
        "checklists",
        sa.Column("id", sa.String(200), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("version", sa.String(400), nullable=False),
        sa.Column("slot", sa.String(200), nullable=False),
        sa.Column("deployment_id", sa.String(200), nullable=True),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_checklists"),
    )
    op.create_index("ix_checklists_at", "checklists", ["at"])
    op.create_table(
        "drills",
        sa.Column("id", sa.String(200), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("slot", sa.String(200), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_drills"),
    )
    op.create_index("ix_drills_at", "drills", ["at"])
    with op.batch_alter_table("route_table") as batch:
        batch.add_column(sa.Column("drill", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("route_table") as batch:
        batch.drop_column("drill")
    op.drop_index("ix_drills_at", table_name="drills")
    op.drop_table("drills")
    op.drop_index("ix_checklists_at", table_name="checklists")
    op.drop_table("checklists")
    op.drop_index("ix_eval_runs_slot_version", table_name="eval_runs")
    op.drop_index("ix_eval_runs_suite", table_name="eval_runs")
    op.drop_table("eval_runs")
    op.drop_table("eval_suites")
    op.drop_table("request_inputs")
