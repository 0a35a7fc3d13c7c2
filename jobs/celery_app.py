"""The Celery application that drives jobs through their stages (service mode).

Queues: ``cpu`` (ingest, assemble: probing, analysis, splitting, concat) and
``render`` (a job's chunks on the Ray actor pool), so a farm can run them on
different machines: ``mattefarm worker --queues render`` where the GPUs are.

Delivery follows Celery's guidance for long tasks: ``acks_late``, one task
prefetched per process, and a broker visibility timeout above the longest
stage (Redis redelivers an unacknowledged task after it). The broker is only
a doorbell: SQL leases and the reaper (:mod:`jobs.leases`, :mod:`jobs.reaper`)
recover the work of a dead worker and ring again for a lost message.
Job priority (0-100) maps to the Redis transport's ten priority levels;
within a level tasks are taken oldest first.

Start a worker with ``mattefarm worker`` or ``celery -A jobs.celery_app worker``.
"""

from __future__ import annotations

from celery import Celery

from jobs.settings import Settings, get_settings

CPU_QUEUE, RENDER_QUEUE = "cpu", "render"
QUEUES = (CPU_QUEUE, RENDER_QUEUE)
STAGE_QUEUES: dict[str, str] = {"ingest": CPU_QUEUE, "render": RENDER_QUEUE, "assemble": CPU_QUEUE}
"""Stage task name (``mattefarm.<stage>``) -> the queue it runs on."""
PRIORITY_LEVELS = 10
PRIORITY_SEPARATOR = "\x06\x16"  # kombu's Redis transport: "queue" + separator + level for levels above 0


def queue_keys(queue: str) -> list[str]:
    """The Redis lists that hold a queue's waiting messages, one per priority level."""
    return [queue, *(f"{queue}{PRIORITY_SEPARATOR}{level}" for level in range(1, PRIORITY_LEVELS))]


def celery_priority(priority: int) -> int:
    """Job priority 0-100 (100 most urgent) -> Redis transport priority 0-9 (0 taken first)."""
    return 9 - min(max(priority, 0), 100) * 9 // 100


def make_celery(settings: Settings) -> Celery:
    """A Celery app on the settings' broker, with the stage tasks registered."""
    app = Celery("mattefarm", broker=settings.resolved_broker_url(), include=["jobs.tasks"])
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_default_queue=CPU_QUEUE,
        task_routes={f"mattefarm.{stage}": {"queue": queue} for stage, queue in STAGE_QUEUES.items()},
        broker_transport_options={
            "visibility_timeout": settings.render_timeout_s + 3600,
            "priority_steps": list(range(PRIORITY_LEVELS)),
            "queue_order_strategy": "priority",
        },
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        # Ray (started in the render worker) needs real stdout/stderr file descriptors.
        worker_redirect_stdouts=False,
    )
    return app


app = make_celery(get_settings())
