"""Capacity in an environment: the volumes to watch and the warning/critical levels (2.3)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import Field, field_validator

from lms_opscheck.config.levels import (
    ByteLevels,
    Bytes,
    CountLevels,
    DurationLevels,
    Frozen,
    RatioLevels,
)

#: The LMS's Celery queues (lms-target.md).
LMS_QUEUES = ("emails", "progress", "certificates", "webhooks")


class Volume(Frozen):
    """A filesystem to watch: ``path`` on ``host`` (a name under ``hosts:``, or local)."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$")]
    path: Annotated[str, Field(min_length=1)]
    host: str = "local"


class CapacityPolicy(Frozen):
    """Warning and critical levels: reaching ``warning`` warns, reaching ``critical`` fails."""

    disk: RatioLevels = RatioLevels(warning=0.8, critical=0.9)
    db_connections: RatioLevels = RatioLevels(warning=0.8, critical=0.95)
    #: absent: the size is recorded, and its check skips naming this key
    database_size: ByteLevels | None = None
    database_growth_per_day: ByteLevels | None = None
    long_running_query: DurationLevels = DurationLevels(
        warning=timedelta(minutes=5), critical=timedelta(minutes=30)
    )
    idle_in_transaction: DurationLevels = DurationLevels(
        warning=timedelta(minutes=5), critical=timedelta(minutes=30)
    )
    #: replicas that must be attached (0: none required; lag is checked when any is attached)
    min_replicas: Annotated[int, Field(ge=0)] = 0
    replication_lag: DurationLevels = DurationLevels(
        warning=timedelta(seconds=30), critical=timedelta(minutes=5)
    )
    replication_lag_bytes: ByteLevels = ByteLevels(warning=16 * 1024**2, critical=1024**3)
    #: share of the 2^31 transaction ids consumed by the oldest unfrozen database
    xid_age: RatioLevels = RatioLevels(warning=0.5, critical=0.75)
    redis_memory: RatioLevels = RatioLevels(warning=0.7, critical=0.9)
    #: compared with used memory when Redis runs with maxmemory 0 (unlimited)
    redis_memory_limit: Bytes | None = None
    #: keys Redis evicted since the previous run (since its start on the first run)
    redis_evictions: CountLevels = CountLevels(warning=1, critical=100)
    queue_length: CountLevels = CountLevels(warning=100, critical=1000)
    celery_queues: Annotated[list[str], Field(min_length=1)] = Field(
        default_factory=lambda: list(LMS_QUEUES)
    )

    @field_validator("celery_queues")
    @classmethod
    def _queues(cls, queues: list[str]) -> list[str]:
        if len(set(queues)) != len(queues):
            raise ValueError("a queue is listed twice")
        return queues
