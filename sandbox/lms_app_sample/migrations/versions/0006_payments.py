"""Create payments.

Revision ID: 0006_payments
Revises: 0005_certificates
"""

from __future__ import annotations

from alembic import op

revision = "0006_payments"
down_revision: str | tuple[str, ...] | None = "0005_certificates"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("SELECT 1")  # create payments


def downgrade() -> None:
    pass
