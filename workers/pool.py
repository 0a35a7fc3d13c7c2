"""A pool of render actors sized from the Ray cluster, and the chunk scheduler.

With no address ``ray.init()`` starts a local cluster; ``RAY_ADDRESS`` (or an
explicit address) joins a running one. One actor per GPU when the cluster has
GPUs; on CPU, ``workers`` actors sharing the CPU cores.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import ray
from ray.exceptions import ActorDiedError, ActorUnavailableError, RayActorError, RayTaskError
from ray.util.queue import Queue

from models.errors import MattefarmError, MediaError, TransientError
from workers.actor import RenderActor
from workers.specs import ChunkSpec, RenderResult


def connect_ray(address: str | None = None, num_cpus: int | None = None) -> None:
    """Join the cluster at ``address`` (or ``RAY_ADDRESS``), else start a local one.

    Idempotent: a process already connected keeps its connection.
    """
    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    address = address or os.environ.get("RAY_ADDRESS") or None
    kwargs: dict = {"include_dashboard": False, "logging_level": logging.WARNING, "log_to_driver": False}
    if address is None and num_cpus is not None:
        kwargs["num_cpus"] = num_cpus
    ray.init(address=address, **kwargs)


@dataclass(frozen=True)
class PoolShape:
    """How many actors and what each asks of the cluster.

    Attributes:
        actors: actor count. gpus: GPUs per actor (1 or 0). cpus: CPUs per actor.
        threads: onnxruntime intra-op threads per actor.
    """

    actors: int
    gpus: int
    cpus: float
    threads: int


def pool_shape(workers: int | None = None) -> PoolShape:
    """Size the pool from the cluster's resources.

    One actor per GPU if the cluster has any (``workers`` caps the count);
    otherwise ``workers`` CPU actors (default: one per two cores), each given
    half its share of the cores as onnxruntime threads: the other half runs the
    actor's decoder and encoder threads, which overlap the keyer
    (:mod:`workers.overlap`). On 2 cores, 1 keyer thread renders 1080p at 24 fps
    where 2 threads give 23.
    """
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    cpus = max(1, int(resources.get("CPU", 1)))
    if gpus:
        count = min(gpus, workers) if workers else gpus
        return PoolShape(count, 1, 1, max(1, cpus // count))
    count = workers or max(1, cpus // 2)
    return PoolShape(count, 0, min(1.0, cpus / count), max(1, cpus // count // 2))


@dataclass
class PoolEvents:
    """Callbacks the scheduler calls on the driver as chunks progress."""

    on_start: Callable[[ChunkSpec, int], None] = lambda spec, attempt: None
    on_progress: Callable[[str, int, int], None] = lambda job_id, index, done: None
    on_done: Callable[[ChunkSpec, RenderResult], None] = lambda spec, result: None
    on_error: Callable[[ChunkSpec, MattefarmError, bool], None] = lambda spec, error, final: None
    should_stop: Callable[[], bool] = lambda: False


def _unwrap(exc: Exception) -> MattefarmError:
    """Turn a Ray failure into the project's error type (transient if the actor died)."""
    if isinstance(exc, (ActorDiedError, ActorUnavailableError, RayActorError)):
        return TransientError(f"the render worker died ({type(exc).__name__})", "the chunk is retried")
    if isinstance(exc, RayTaskError):
        cause = exc.as_instanceof_cause()
        if isinstance(cause, MattefarmError):
            return cause
        return MediaError(f"the render failed: {exc.cause!r}", "see the chunk log")
    return MediaError(f"the render failed: {exc!r}", "see the chunk log")


class RenderPool:
    """Render actors and a scheduler that keeps each busy with one chunk at a time.

    Args:
        shape: actor count and resources (see :func:`pool_shape`).
        max_attempts: tries per chunk when a worker dies (transient errors).
    """

    def __init__(self, shape: PoolShape, max_attempts: int = 3) -> None:
        self.shape, self.max_attempts = shape, max_attempts
        self.actors = [self._new_actor() for _ in range(shape.actors)]
        self.progress = Queue(maxsize=0)

    def _new_actor(self) -> ray.actor.ActorHandle:
        options = {"num_gpus": self.shape.gpus, "num_cpus": self.shape.cpus}
        return RenderActor.options(**options).remote(self.shape.threads)

    def _drain_progress(self, events: PoolEvents) -> None:
        for job_id, index, done in self.progress.get_nowait_batch(self.progress.qsize()):
            events.on_progress(job_id, index, done)

    def run(self, specs: Sequence[ChunkSpec], events: PoolEvents, task: str = "render") -> list[RenderResult]:
        """Render every spec (``task`` ``analyse``: run the face analysis pass instead); return results in chunk order.

        A permanent error stops dispatching and is raised after in-flight chunks
        finish; a dead worker is replaced and its chunk retried up to
        ``max_attempts`` times. ``events.should_stop()`` returning true cancels
        in-flight tasks and returns what finished. An exception from a callback
        cancels the in-flight tasks too, then propagates.
        """
        running: dict[ray.ObjectRef, tuple[ChunkSpec, int]] = {}
        try:
            return self._schedule(specs, events, task, running)
        except BaseException:
            if running:
                self._cancel(running)
            raise

    def _schedule(self, specs: Sequence[ChunkSpec], events: PoolEvents, task: str,
                  running: dict[ray.ObjectRef, tuple[ChunkSpec, int]]) -> list[RenderResult]:
        """The scheduling loop of :meth:`run`; ``running`` holds the in-flight tasks."""
        pending = list(specs)
        attempts = {s.index: 0 for s in specs}
        idle = list(range(len(self.actors)))
        results: dict[int, RenderResult] = {}
        failure: MattefarmError | None = None
        while pending or running:
            if events.should_stop():
                self._cancel(running)
                break
            while pending and idle and failure is None:
                spec, slot = pending.pop(0), idle.pop(0)
                attempts[spec.index] += 1
                events.on_start(spec, attempts[spec.index])
                ref = getattr(self.actors[slot], task).remote(spec, self.progress.actor)
                running[ref] = (spec, slot)
            if not running:
                break
            ready, _ = ray.wait(list(running), num_returns=1, timeout=0.2)
            self._drain_progress(events)
            for ref in ready:
                spec, slot = running.pop(ref)
                try:
                    result = ray.get(ref)
                except Exception as exc:  # noqa: BLE001 - every Ray failure is classified
                    error = _unwrap(exc)
                    retry = error.transient and attempts[spec.index] < self.max_attempts
                    events.on_error(spec, error, not retry)
                    if error.transient:
                        self.actors[slot] = self._new_actor()
                    if retry:
                        pending.insert(0, spec)
                    elif failure is None:
                        failure = error
                    idle.append(slot)
                    continue
                self._drain_progress(events)
                results[spec.index] = result
                events.on_done(spec, result)
                idle.append(slot)
            if failure is not None and not running:
                break
        if failure is not None:
            raise failure
        return [results[i] for i in sorted(results)]

    def _cancel(self, running: dict[ray.ObjectRef, tuple[ChunkSpec, int]], grace_s: float = 10.0) -> None:
        """Stop in-flight chunks and wait until none is left running on an actor.

        A running actor task only sees a cancellation flag, which the renderer
        checks between batches; an actor that has not stopped after ``grace_s``
        seconds is killed and replaced, so no task outlives the call.
        """
        for ref in running:
            ray.cancel(ref)
        _, stuck = ray.wait(list(running), num_returns=len(running), timeout=grace_s)
        for ref in stuck:
            _, slot = running[ref]
            ray.kill(self.actors[slot])
            self.actors[slot] = self._new_actor()
        self._drain_progress(PoolEvents())
        running.clear()

    def shutdown(self) -> None:
        """Kill the actors and the progress queue."""
        for actor in self.actors:
            ray.kill(actor)
        self.progress.shutdown()
