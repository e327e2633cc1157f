"""Compliance in an environment: data-retention rules, owners of critical functions (2.3, 10.2)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator, model_validator

from lms_opscheck.config.durations import Duration
from lms_opscheck.config.levels import Frozen

#: a table or column name, optionally schema-qualified (quoted with psycopg.sql, never pasted)
_IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$"


class RetentionRule(Frozen):
    """Rows of ``table`` whose ``column`` is older than ``max_age`` must be gone."""

    table: Annotated[str, Field(pattern=_IDENTIFIER)]
    column: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_$]*$")]
    max_age: Duration
    description: str = ""

    @property
    def id(self) -> str:
        return f"{self.table}.{self.column}"


class Compliance(Frozen):
    retention_rules: list[RetentionRule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> Compliance:
        ids = [rule.id for rule in self.retention_rules]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"retention rule {', '.join(twice)} is declared twice")
        return self


class Function(Frozen):
    """A function of the operation (incident response, backups...) and who can perform it."""

    owners: list[Annotated[str, Field(min_length=1)]]
    critical: bool = True
    description: str = ""

    @field_validator("owners")
    @classmethod
    def _stripped(cls, owners: list[str]) -> list[str]:
        return [owner.strip() for owner in owners]
