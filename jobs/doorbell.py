"""The broker as a doorbell: enqueue a job's next stage, and find jobs whose message was lost.

SQL says what a job needs next (:func:`next_stage`); a message only wakes a
worker for it. :func:`ring` stamps ``Job.rung_at``, commits, then sends the
stage's task by name (so the API never imports the render code). If the
broker is down or its queue is flushed, nothing is lost: the reaper finds the
job unclaimed, rung long ago and absent from every queue (:func:`queued_job_ids`),
and rings again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import redis
from celery import Celery
from sqlalchemy.orm import Session

from jobs.celery_app import QUEUES, STAGE_QUEUES, celery_priority, queue_keys
from jobs.job_plan import FacePlan
from jobs.tables import Job, State, utcnow

log = logging.getLogger(__name__)

def next_stage(job: Job) -> str:
    """The stage a job needs next: ``ingest`` without a plan, ``render`` while a chunk is not
    done (or its faces are not solved), else ``assemble``."""
    if job.plan is None:
        return "ingest"
    faces = FacePlan.of(job)
    if (faces is not None and not faces.solved) or any(c.state != State.DONE for c in job.chunks):
        return "render"
    return "assemble"


def ring(session: Session, job: Job, app: Celery, countdown: float | None = None) -> None:
    """Record the doorbell time, commit, then enqueue the job's next stage under its run.

    A broker that does not answer is logged, not raised: the job is recorded, and the
    reaper rings again once ``ring_after_s`` has passed.
    """
    job.rung_at = utcnow()
    session.commit()
    stage = next_stage(job)
    try:
        app.send_task(f"mattefarm.{stage}", (job.id, job.run), queue=STAGE_QUEUES[stage],
                      priority=celery_priority(job.priority), countdown=countdown)
    except Exception:  # noqa: BLE001 - any broker failure: the reaper rings again
        log.warning("could not enqueue job %s (%s); the reaper will ring again", job.id, stage, exc_info=True)


def queued_job_ids(broker_url: str, job_ids: Iterable[str]) -> set[str] | None:
    """Which of ``job_ids`` have a message waiting in a stage queue of the Redis broker.

    Returns None when the broker cannot be read (not Redis, or down): the caller
    then cannot tell and rings only by time.
    """
    wanted = [job_id.encode() for job_id in job_ids]
    if not wanted:
        return set()
    if not broker_url.startswith(("redis://", "rediss://", "unix://")):
        return None
    try:
        client = redis.Redis.from_url(broker_url, socket_timeout=5.0)
        pipe = client.pipeline()
        for queue in QUEUES:
            for key in queue_keys(queue):
                pipe.lrange(key, 0, -1)
        messages = [raw for chunk in pipe.execute() for raw in chunk]
    except redis.RedisError:
        return None
    return {job_id.decode() for job_id in wanted if any(job_id in raw for raw in messages)}
