"""Create audit_logs (developed beside 0008).

Revision ID: 0009_audit_logs
Revises: 0007_files_and_uploads
"""

from __future__ import annotations

from alembic import op

revision = "0009_audit_logs"
down_revision: str | tuple[str, ...] | None = "0007_files_and_uploads"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("SELECT 1")  # create audit_logs (developed beside 0008)


def downgrade() -> None:
    pass
