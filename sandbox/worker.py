"""The sandbox's Celery app: the LMS's queues, a trivial task, the broker from the environment."""

from __future__ import annotations

import os

from celery import Celery

QUEUES = ("emails", "progress", "certificates", "webhooks")

celery_app = Celery("sandbox", broker=os.environ.get("SANDBOX_BROKER_URL", "memory://"))
celery_app.conf.update(
    task_default_queue="emails",
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    worker_send_task_events=False,
)


@celery_app.task(name="sandbox.heartbeat")  # type: ignore[untyped-decorator]
def heartbeat() -> str:
    return "ok"
