"""An index on requests (slot, category, started_at): per-category counts for canary checks.

A canary check counts a slot's requests per category over a window. With
this index each category is one contiguous range (slot, category, time), read
from the index alone, and the categories themselves are found by skipping
through it, so the check costs what the window holds, not what the table
holds, and needs no sort (docs/benchmarks.md, "canary statistics").

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_index("ix_requests_slot_category_started_at", "requests", ["slot", "category", "started_at"])


def downgrade() -> None:
    op.drop_index("ix_requests_slot_category_started_at", table_name="requests")
