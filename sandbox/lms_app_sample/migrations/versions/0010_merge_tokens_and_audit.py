"""Merge the two branches.

Revision ID: 0010_merge_tokens_and_audit
Revises: 0008_refresh_tokens, 0009_audit_logs
"""

from __future__ import annotations

revision = "0010_merge_tokens_and_audit"
down_revision: str | tuple[str, ...] | None = ("0008_refresh_tokens", "0009_audit_logs")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
