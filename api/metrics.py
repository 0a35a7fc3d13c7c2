"""``GET /metrics``: Prometheus metrics of the farm, read from SQL and the broker at scrape time.

Workers run in other processes (and machines), so the API does not count
events itself: each scrape asks the durable truth. Metrics:

- ``mattefarm_jobs{state}``: jobs per state;
- ``mattefarm_frames_rendered_total``: frames of all jobs rendered so far;
- ``mattefarm_render_fps``: frames per second summed over running jobs (frames done / time since start);
- ``mattefarm_queue_depth{queue}``: tasks waiting in each Celery queue (all priority levels);
- ``mattefarm_chunk_seconds``: histogram of finished chunks' render times.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone

import redis
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from api.schemas import JobPublic
from jobs.celery_app import QUEUES, queue_keys
from jobs.tables import Chunk, Job, State

CHUNK_BUCKETS = (1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)


class FarmCollector(Collector):
    """Collects the farm's metrics on each scrape.

    Args:
        sessions: database sessions. broker_url: the Celery broker (Redis).
    """

    def __init__(self, sessions: sessionmaker[Session], broker_url: str) -> None:
        self.sessions, self.broker_url = sessions, broker_url

    def collect(self) -> Iterator[Metric]:
        with self.sessions() as session:
            yield self._jobs(session)
            yield CounterMetricFamily("mattefarm_frames_rendered", "Frames rendered, all jobs",
                                      value=session.scalar(select(func.coalesce(func.sum(Job.frames_done), 0))) or 0)
            yield self._fps(session)
            yield self._chunk_seconds(session)
        yield self._queues()

    def _jobs(self, session: Session) -> GaugeMetricFamily:
        counts = dict(session.execute(select(Job.state, func.count()).group_by(Job.state)).all())
        family = GaugeMetricFamily("mattefarm_jobs", "Jobs per state", labels=["state"])
        for state in State:
            family.add_metric([state.value], counts.get(state, 0))
        return family

    def _fps(self, session: Session) -> GaugeMetricFamily:
        now = datetime.now(timezone.utc)
        running = session.scalars(select(Job).where(Job.state == State.RUNNING))
        total = sum(JobPublic.of(job, None, now).fps or 0.0 for job in running)
        return GaugeMetricFamily("mattefarm_render_fps", "Frames per second over running jobs", value=total)

    def _chunk_seconds(self, session: Session) -> HistogramMetricFamily:
        rows = session.scalars(select(Chunk.seconds).where(Chunk.state == State.DONE, Chunk.seconds.is_not(None)))
        seconds = [s for s in rows if s is not None]  # the query excludes None; this tells the type checker
        buckets = [(str(b), sum(1 for s in seconds if s <= b)) for b in CHUNK_BUCKETS] + [("+Inf", len(seconds))]
        return HistogramMetricFamily("mattefarm_chunk_seconds", "Render time of finished chunks", buckets=buckets,
                                     sum_value=float(sum(seconds)))

    def _queues(self) -> GaugeMetricFamily:
        family = GaugeMetricFamily("mattefarm_queue_depth", "Tasks waiting per Celery queue", labels=["queue"])
        client = redis.Redis.from_url(self.broker_url, socket_timeout=2.0)
        for queue in QUEUES:
            try:
                family.add_metric([queue], sum(client.llen(k) for k in queue_keys(queue)))
            except redis.RedisError:
                family.add_metric([queue], float("nan"))
        return family
