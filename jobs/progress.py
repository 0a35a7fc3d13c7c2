"""Live progress in Redis: per-chunk frame counters and a pub/sub event stream per job.

SQL is the truth (:mod:`jobs.tables`); Redis mirrors what changes every frame
and tells listeners (the API's Server-Sent Events, the CLI's ``--wait``) at
once. Keys, under a prefix (``mattefarm`` by default):

- ``{prefix}:job:{id}:frames``: hash, chunk index -> frames done;
- ``{prefix}:job:{id}:events``: pub/sub channel of JSON events (see :func:`job_event`).

If Redis is flushed or restarted, :meth:`LiveProgress.frames` finds the hash
missing and :meth:`LiveProgress.rebuild` refills it from the job's rows.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import redis

from jobs.tables import Chunk, Job, State

EVENT_TYPES = ("state", "chunk", "progress")
"""``state``: the job's state or stage changed; ``chunk``: a chunk's state changed;
``progress``: frames were rendered."""


def job_event(job: Job, kind: str, chunk: Chunk | None = None, frames_done: int | None = None) -> dict[str, Any]:
    """The JSON-ready event for a job (and one of its chunks).

    Args:
        job: the job row. kind: one of :data:`EVENT_TYPES`. chunk: the chunk it is about.
        frames_done: the job's live frame count, where it is ahead of SQL.
    """
    event: dict[str, Any] = {
        "type": kind, "job_id": job.id, "state": job.state.value, "stage": job.stage.value,
        "frames_done": job.frames_done if frames_done is None else frames_done,
        "frames_total": job.frames_total, "error": job.error, "time": time.time(),
    }
    if chunk is not None:
        event["chunk"] = {"index": chunk.index, "state": chunk.state.value, "frames_done": chunk.frames_done,
                          "frames": chunk.frame_count, "attempts": chunk.attempts, "error": chunk.error,
                          "worker": chunk.worker, "seconds": chunk.seconds}
    return event


class LiveProgress:
    """Per-chunk frame counters and job events in Redis.

    Args:
        client: a Redis client (``decode_responses`` either way).
        prefix: key prefix, so tests and several farms can share one Redis.
    """

    def __init__(self, client: redis.Redis, prefix: str = "mattefarm") -> None:
        self.client, self.prefix = client, prefix

    @classmethod
    def from_url(cls, url: str, prefix: str = "mattefarm") -> "LiveProgress":
        """Connect to the Redis at ``url`` (``redis://host:port/db``)."""
        return cls(redis.Redis.from_url(url, decode_responses=True), prefix)

    def _frames_key(self, job_id: str) -> str:
        return f"{self.prefix}:job:{job_id}:frames"

    def channel(self, job_id: str) -> str:
        """The pub/sub channel of a job's events."""
        return f"{self.prefix}:job:{job_id}:events"

    def set_chunk_frames(self, job_id: str, index: int, frames: int) -> None:
        """Record that chunk ``index`` has ``frames`` frames done."""
        self.client.hset(self._frames_key(job_id), str(index), frames)

    def frames(self, job_id: str) -> dict[int, int] | None:
        """Chunk index -> frames done, or None when Redis holds nothing for the job."""
        raw = self.client.hgetall(self._frames_key(job_id))
        return {int(k): int(v) for k, v in raw.items()} if raw else None

    def rebuild(self, job: Job) -> dict[int, int]:
        """Refill the counters from the job's chunk rows (after a Redis flush or restart)."""
        counts = {c.index: c.frames_done for c in job.chunks}
        key = self._frames_key(job.id)
        pipe = self.client.pipeline()
        pipe.delete(key)
        if counts:
            pipe.hset(key, mapping={str(k): v for k, v in counts.items()})
        pipe.execute()
        return counts

    def chunk_frames(self, job: Job) -> dict[int, int] | None:
        """Chunk index -> frames done of a running job: Redis's live counters, rebuilt from
        SQL if Redis lost them. None for a job not running (SQL's counts are final then)."""
        if job.state != State.RUNNING or not job.chunks:
            return None
        counts = self.frames(job.id)
        return counts if counts is not None else self.rebuild(job)

    def publish(self, event: dict[str, Any]) -> None:
        """Send an event to the job's listeners."""
        self.client.publish(self.channel(event["job_id"]), json.dumps(event))

    def forget(self, job_id: str) -> None:
        """Drop a job's counters (the job was deleted)."""
        self.client.delete(self._frames_key(job_id))

    def subscribe(self, job_id: str) -> "Subscription":
        """Start listening to a job's events now (subscribe before reading a snapshot, so no
        event published in between is lost)."""
        return Subscription(self.client, self.channel(job_id))


class Subscription:
    """A job's events as they are published; iterate, then :meth:`close`.

    Iteration yields each event dict, or None after ``timeout_s`` of silence
    (a moment to send a keep-alive or re-check SQL).
    """

    def __init__(self, client: redis.Redis, channel: str, timeout_s: float = 10.0) -> None:
        self.timeout_s = timeout_s
        self.pubsub = client.pubsub(ignore_subscribe_messages=True)
        self.pubsub.subscribe(channel)

    def __iter__(self) -> Iterator[dict[str, Any] | None]:
        while True:
            message = self.pubsub.get_message(timeout=self.timeout_s)
            yield json.loads(message["data"]) if message else None

    def close(self) -> None:
        """Unsubscribe and release the connection."""
        self.pubsub.close()


@dataclass
class LiveMirror:
    """Mirrors chunk changes to Redis: counters and events (a :class:`jobs.events.ChunkListener`)."""

    live: LiveProgress

    def chunk_changed(self, job: Job, chunk: Chunk) -> None:
        """The chunk's counter, and a ``chunk`` event."""
        self.live.set_chunk_frames(job.id, chunk.index, chunk.frames_done)
        self.live.publish(job_event(job, "chunk", chunk, frames_done=sum(c.frames_done for c in job.chunks)))

    def frames_changed(self, job: Job, chunk: Chunk) -> None:
        """The chunk's counter, and a ``progress`` event."""
        self.live.set_chunk_frames(job.id, chunk.index, chunk.frames_done)
        self.live.publish(job_event(job, "progress", chunk, frames_done=sum(c.frames_done for c in job.chunks)))
