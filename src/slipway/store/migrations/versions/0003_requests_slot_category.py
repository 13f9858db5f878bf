"""Two indexes on requests for canary checks: per-category counts, and the few unfinished requests.

A canary check totals a slot's requests over a window, per category, and
counts errors and aborts. Two indexes make that cost what the window holds
(not what the table holds) and keep it to index reads:

* (slot, category, started_at, stream): each category is one contiguous
  range, read from the index alone (requests and streams), and the categories
  themselves are found by skipping through it — no sort of the window;
* (slot, started_at) over unfinished requests only (an error status, an error
  recorded, or aborted): a partial index, a percent or two of the rows, from
  which errors and aborts are counted.

docs/benchmarks.md, "canary statistics", has the numbers.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

UNFINISHED = "status >= 400 OR error IS NOT NULL OR aborted"


def upgrade() -> None:
    op.create_index(
        "ix_requests_slot_category_started_at", "requests", ["slot", "category", "started_at", "stream"]
    )
    op.create_index(
        "ix_requests_unfinished_slot_started_at",
        "requests",
        ["slot", "started_at"],
        sqlite_where=sa.text(UNFINISHED),
        postgresql_where=sa.text(UNFINISHED),
    )


def downgrade() -> None:
    op.drop_index("ix_requests_unfinished_slot_started_at", table_name="requests")
    op.drop_index("ix_requests_slot_category_started_at", table_name="requests")
