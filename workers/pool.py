"""A pool of render actors spread over the Ray cluster's nodes, and the chunk scheduler.

With no address a process starts a private local Ray instance (``address="local"``),
never the machine's current cluster; an explicit address (``MATTEFARM_RAY_ADDRESS``,
``--ray-address``) joins a running one. Every Mattefarm process works in its
deployment's Ray namespace. The pool places its actors node by node (one per
GPU on GPU nodes, else one per two CPU cores), so a joined cluster renders on
every node, and each chunk is told where it ran.
"""

from __future__ import annotations

import logging
import os
import re
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from models.errors import ChunkDead, MattefarmError, MediaError, TransientError
from workers.runner import ActorSlot, ChunkEvents, PoolEvents, Task, node_slots
from workers.specs import ChunkSpec, RenderResult

if TYPE_CHECKING:
    from ray import ObjectRef
    from ray.actor import ActorClass, ActorHandle
    from ray.util.queue import Queue

    from workers.actor import RenderActor

# Ray is imported where it is used: this module is imported by code that only
# names its types (jobs.faces), and a CLI render on one machine never starts Ray.

__all__ = ["ActorSlot", "ChunkEvents", "PoolEvents", "PoolShape", "RenderPool", "connect_ray", "pool_shape"]

log = logging.getLogger(__name__)
DEFAULT_NAMESPACE = "mattefarm"


def connect_ray(address: str | None = None, num_cpus: int | None = None, namespace: str = DEFAULT_NAMESPACE) -> None:
    """Join the cluster at ``address``, else start a private local Ray instance.

    ``RAY_ADDRESS`` and the machine's current-cluster file are ignored: with no
    address the process never joins a cluster someone else started with
    ``ray start`` (FIELD-NOTES: such a process died when that cluster stopped).
    The process keeps its own SIGTERM handler (Ray's would ``sys.exit`` from
    wherever the main thread is). Idempotent: a connected process keeps its
    connection.

    Args:
        address: ``host:port`` of a Ray head (or ``ray://`` client URL); empty: local.
        num_cpus: CPUs of a local instance (default: the machine's).
        namespace: the Ray namespace (one per deployment, so named actors never clash).
    """
    import ray

    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    kwargs: dict = {"include_dashboard": False, "logging_level": logging.WARNING, "log_to_driver": False,
                    "namespace": namespace}
    if not address:
        address = "local"
        if num_cpus is not None:
            kwargs["num_cpus"] = num_cpus
    handler = signal.getsignal(signal.SIGTERM)
    ray.init(address=address, **kwargs)
    if handler is not None:
        signal.signal(signal.SIGTERM, handler)


@dataclass(frozen=True)
class PoolShape:
    """The pool's actors, one slot each (see :func:`pool_shape`)."""

    slots: tuple[ActorSlot, ...]

    @property
    def actors(self) -> int:
        """Actor count."""
        return len(self.slots)


def _node_slots(node: dict, workers: int | None) -> list[ActorSlot]:
    """The actors a Ray node (``ray.nodes()`` entry) holds: :func:`workers.runner.node_slots`."""
    resources = node.get("Resources", {})
    host = node.get("NodeManagerHostname") or node.get("NodeManagerAddress", "")
    return node_slots(node["NodeID"], host, int(resources.get("GPU", 0)), int(resources.get("CPU", 0)), workers)


def pool_shape(workers: int | None = None) -> PoolShape:
    """Size the pool from the cluster's alive nodes, spread over all of them.

    Every node with CPUs or GPUs gets its actors (:func:`_node_slots`); ``workers``
    caps the actor count, taken round-robin over the nodes so a small pool still
    spans them.

    Raises:
        TransientError: the cluster has no node with CPUs or GPUs.
    """
    import ray

    nodes = [n for n in ray.nodes() if n.get("Alive") and (n.get("Resources", {}).get("CPU", 0) or
                                                            n.get("Resources", {}).get("GPU", 0))]
    if not nodes:
        raise TransientError("the Ray cluster has no node with CPUs or GPUs", "start a render node and retry")
    per_node = [_node_slots(n, workers) for n in sorted(nodes, key=lambda n: n["NodeID"])]
    slots = [s for round_ in _round_robin(per_node) for s in round_]
    return PoolShape(tuple(slots[:workers] if workers else slots))


def _round_robin(per_node: list[list[ActorSlot]]) -> list[list[ActorSlot]]:
    """Rounds of at most one slot per node: ``[[a0, b0], [a1, b1], ...]``."""
    depth = max(len(slots) for slots in per_node)
    return [[slots[i] for slots in per_node if i < len(slots)] for i in range(depth)]


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
"""Terminal colour codes, which Ray puts around an actor's name in its error text."""


def _unwrap(exc: Exception) -> MattefarmError:
    """Turn a Ray failure into the project's error type (transient if the actor died)."""
    from ray.exceptions import RayTaskError

    if isinstance(exc, _helper_died()):
        return TransientError(f"the render worker died ({type(exc).__name__})", "the chunk is retried")
    if isinstance(exc, RayTaskError):
        cause = exc.cause  # the actor's own exception (ray.get raises a RayTaskError subclass of its type)
        if isinstance(cause, MattefarmError):
            return cause
        # str() of a Ray task error is the actor's own traceback (its traceback_str attribute is
        # not reachable on the instance ray.get raises, which is also an instance of the cause)
        return MediaError(f"the render failed: {exc.cause!r}", "see the chunk log", detail=_ANSI.sub("", str(exc)))
    return MediaError(f"the render failed: {exc!r}", "see the chunk log")


def _helper_died() -> tuple[type[Exception], ...]:
    """Ray's errors for an actor that died or cannot be reached."""
    from ray.exceptions import ActorDiedError, ActorUnavailableError, RayActorError

    return (ActorDiedError, ActorUnavailableError, RayActorError)


def _queue() -> Queue:
    """A new progress queue (an actor of its own)."""
    from ray.util.queue import Queue

    return Queue(maxsize=0)


class RenderPool:
    """Render actors and a scheduler that keeps each busy with one chunk at a time (a
    :class:`workers.runner.ChunkRunner`).

    A render actor that dies is replaced on its node and its chunk tried again;
    the progress queue's actor is replaced too when it dies (progress of the
    chunks then in flight is reported when they finish). Neither fails a job.

    Args:
        shape: the actors' slots (see :func:`pool_shape`).
        max_attempts: tries per chunk over its whole life when workers die (transient errors).
        actor_class: the Ray actor class to start in each slot (None: :class:`workers.actor.RenderActor`);
            another class must answer ``render``/``analyse(spec, progress_actor)`` alike (the
            scheduling tests start scripted actors).
    """

    start_stage = "starting the render actors"

    def __init__(self, shape: PoolShape, max_attempts: int = 3, actor_class: Any = None) -> None:
        self.shape, self.max_attempts, self.actor_class = shape, max_attempts, actor_class
        self.slots = list(shape.slots)
        self.actors = [self._new_actor(slot) for slot in self.slots]
        self.progress = _queue()

    def _new_actor(self, slot: ActorSlot) -> ActorHandle:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        from workers.actor import RenderActor

        strategy = NodeAffinitySchedulingStrategy(slot.node_id, soft=True)
        actor_class = cast("ActorClass[RenderActor]", self.actor_class or RenderActor)  # what @ray.remote made of the class
        return cast("ActorHandle[RenderActor]", actor_class.options(num_gpus=slot.gpus, num_cpus=slot.cpus,
                                   scheduling_strategy=strategy).remote(slot.threads))  # Ray types remote() as handle | class

    def _replace_actor(self, index: int, kill: bool = False) -> None:
        if kill:
            import ray

            ray.kill(self.actors[index])
        self.actors[index] = self._new_actor(self.slots[index])

    def _drain_progress(self, events: ChunkEvents) -> None:
        """Pass queued progress reports on; a dead queue actor is replaced with a fresh queue."""
        try:
            reports = self.progress.get_nowait_batch(self.progress.qsize())
        except _helper_died():
            log.warning("the progress queue's actor died: starting a new one")
            self.progress = _queue()
            return
        for job_id, index, done in reports:
            events.on_progress(job_id, index, done)

    def run(self, specs: Sequence[ChunkSpec], events: ChunkEvents, task: Task = "render",
            attempts: dict[int, int] | None = None) -> list[RenderResult]:
        """Render every spec (``task`` ``analyse``: run the face analysis pass instead); return results in chunk order.

        A permanent error stops dispatching and is raised after in-flight chunks
        finish; a dead worker is replaced and its chunk retried until it has had
        ``max_attempts`` tries, counting the ``attempts`` it had before this call
        (chunk index -> tries so far; default none). ``events.should_stop()``
        returning true cancels in-flight tasks and returns what finished. An
        exception from a callback cancels the in-flight tasks too, then propagates.
        """
        running: dict[ObjectRef, tuple[ChunkSpec, int]] = {}
        try:
            return self._schedule(specs, events, task, running, dict(attempts or {}))
        except BaseException:
            if running:
                self._cancel(running)
            raise

    def _schedule(self, specs: Sequence[ChunkSpec], events: ChunkEvents, task: Task,
                  running: dict[ObjectRef, tuple[ChunkSpec, int]], attempts: dict[int, int]) -> list[RenderResult]:
        """The scheduling loop of :meth:`run`; ``running`` holds the in-flight tasks."""
        import ray

        pending = list(specs)
        idle = list(range(len(self.actors)))
        results: dict[int, RenderResult] = {}
        failure: MattefarmError | None = None
        while pending or running:
            if events.should_stop():
                self._cancel(running)
                break
            while pending and idle and failure is None:
                spec, slot = pending.pop(0), idle.pop(0)
                attempts[spec.index] = attempts.get(spec.index, 0) + 1
                events.on_start(spec, attempts[spec.index], self.slots[slot])
                ref = getattr(self.actors[slot], task).remote(spec, self.progress.actor)
                running[ref] = (spec, slot)
            if not running:
                break
            ready, _ = ray.wait(list(running), num_returns=1, timeout=0.2)
            self._drain_progress(events)
            for ref in ready:
                spec, slot = running.pop(ref)
                idle.append(slot)
                try:
                    result = ray.get(ref)
                except Exception as exc:  # noqa: BLE001 - every Ray failure is classified
                    error = _unwrap(exc)
                    retry = error.transient and attempts[spec.index] < self.max_attempts
                    events.on_error(spec, error, not retry)
                    if error.transient:
                        self._replace_actor(slot)
                    if retry:
                        pending.insert(0, spec)
                    elif failure is None:
                        failure = error if not error.transient else ChunkDead(
                            f"chunk {spec.index} failed {attempts[spec.index]} times, the last: {error.problem}",
                            "retry the job once the workers are healthy")
                    continue
                self._drain_progress(events)
                results[spec.index] = result
                events.on_done(spec, result)
            if failure is not None and not running:
                break
        if failure is not None:
            raise failure
        return [results[i] for i in sorted(results)]

    def _cancel(self, running: dict[ObjectRef, tuple[ChunkSpec, int]], grace_s: float = 10.0) -> None:
        """Stop in-flight chunks and wait until none is left running on an actor.

        A running actor task only sees a cancellation flag, which the renderer
        checks between batches; an actor that has not stopped after ``grace_s``
        seconds is killed and replaced, so no task outlives the call.
        """
        import ray

        for ref in running:
            ray.cancel(ref)
        _, stuck = ray.wait(list(running), num_returns=len(running), timeout=grace_s)
        for ref in stuck:
            _, slot = running[ref]
            self._replace_actor(slot, kill=True)
        self._drain_progress(PoolEvents())
        running.clear()

    def shutdown(self) -> None:
        """Kill the actors and the progress queue."""
        import ray

        for actor in self.actors:
            ray.kill(actor)
        try:
            self.progress.shutdown()
        except _helper_died():
            pass
