"""What renders a job's chunks: the interface both runners share, and the in-process runner.

:class:`ChunkRunner` is what :func:`jobs.render.render_job` drives. Two kinds:

- :class:`workers.pool.RenderPool`: Ray actors spread over a cluster's nodes
  (the service, a joined cluster, a machine with several actors' worth of GPUs
  or cores);
- :class:`LocalRunner`: the same chunk code (:class:`workers.render.ChunkRenderer`)
  in the calling process, one chunk after another, with no Ray at all. Starting
  a private Ray instance and its actor costs seconds (Ray itself, then the
  actor's own imports and model load in a fresh process) that a single actor
  on this machine never earns back, so a local job that would get one actor,
  or that has one chunk to render, runs here (:func:`choose_runner`).

Both render each chunk from its pre-roll with a fresh temporal state, so a
chunk's output is the same whichever runner renders it. This module imports
neither Ray nor onnxruntime (the renderer is imported when a runner is made).
"""

from __future__ import annotations

import glob
import logging
import os
import socket
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from models.errors import Cancelled, ChunkDead, MattefarmError, MediaError
from workers.specs import ChunkSpec, RenderResult

if TYPE_CHECKING:
    from workers.render import ChunkRenderer

log = logging.getLogger(__name__)
RunnerChoice = Literal["auto", "local", "ray"]
"""``--runner``: ``auto`` (:func:`choose_runner`), ``local`` (in this process) or ``ray``."""
RUNNER_CHOICES: tuple[RunnerChoice, ...] = ("auto", "local", "ray")
Task = Literal["render", "analyse"]
"""What a runner does with each spec: render it, or run the face analysis pass over it."""


@dataclass(frozen=True)
class ActorSlot:
    """Where one render actor lives and what it asks of its node.

    Attributes:
        node_id: the Ray node's id (hex; ``local`` for the in-process runner).
        node_host: its host name (or address). gpus: GPUs for the actor (1 or 0).
        cpus: CPUs for it. threads: onnxruntime intra-op threads.
    """

    node_id: str
    node_host: str
    gpus: int
    cpus: float
    threads: int


class ChunkEvents(Protocol):
    """What a runner tells the driver as chunks progress: the one chunk-event protocol, from the
    actor to SQL and Redis (on the driver, :class:`jobs.events.ChunkRecorder`)."""

    def on_start(self, spec: ChunkSpec, attempt: int, slot: ActorSlot) -> None:
        """A chunk was handed to the actor in ``slot`` (``attempt`` counts from 1 over the chunk's
        whole life, see :meth:`ChunkRunner.run`)."""

    def on_progress(self, job_id: str, index: int, done: int) -> None:
        """Chunk ``index`` of ``job_id`` has delivered ``done`` frames (pre-roll not counted)."""

    def on_done(self, spec: ChunkSpec, result: RenderResult) -> None:
        """A chunk finished."""

    def on_error(self, spec: ChunkSpec, error: MattefarmError, final: bool) -> None:
        """A chunk failed; ``final`` False means it is tried again."""

    def should_stop(self) -> bool:
        """Polled while chunks run: True cancels them and the runner returns what finished."""
        ...


@dataclass
class PoolEvents:
    """:class:`ChunkEvents` made of callbacks, each doing nothing unless given."""

    on_start: Callable[[ChunkSpec, int, ActorSlot], None] = lambda spec, attempt, slot: None
    on_progress: Callable[[str, int, int], None] = lambda job_id, index, done: None
    on_done: Callable[[ChunkSpec, RenderResult], None] = lambda spec, result: None
    on_error: Callable[[ChunkSpec, MattefarmError, bool], None] = lambda spec, error, final: None
    should_stop: Callable[[], bool] = lambda: False


class ChunkRunner(Protocol):
    """Renders chunk specs and reports each through :class:`ChunkEvents`.

    Attributes:
        slots: where its actors are (one per chunk rendered at a time).
        start_stage: what the job is doing when it hands the runner its chunks, in words.
    """

    slots: list[ActorSlot]
    start_stage: str

    def run(self, specs: Sequence[ChunkSpec], events: ChunkEvents, task: Task = "render",
            attempts: dict[int, int] | None = None) -> list[RenderResult]:
        """Render (``task`` ``analyse``: analyse) every spec; return the results in chunk order.

        ``attempts`` maps chunk index -> tries it had before this call; a chunk has
        at most the runner's ``max_attempts`` tries over its life when it fails
        transiently. ``events.should_stop()`` true stops early and returns what finished.

        Raises:
            ChunkDead: a chunk failed transiently ``max_attempts`` times.
            MattefarmError: a chunk failed for good (raised once no chunk is running).
        """
        ...

    def shutdown(self) -> None:
        """Release the runner's actors (it is not used again)."""
        ...


def local_gpus() -> int:
    """GPUs this machine shows (``CUDA_VISIBLE_DEVICES`` when set, else ``/dev/nvidia<N>`` devices),
    the count Ray would find without being started."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([d for d in visible.split(",") if d.strip() and d.strip() != "-1"])
    return len(glob.glob("/dev/nvidia[0-9]*"))


def node_slots(node_id: str, host: str, gpus: int, cpus: int, workers: int | None) -> list[ActorSlot]:
    """The actors one machine holds: one per GPU (``workers`` caps them), else ``workers`` or
    one per two cores, each given half its share of the cores as onnxruntime threads (the
    other half runs the actor's decoder and encoder threads, :mod:`workers.overlap`; on 2
    cores, 1 keyer thread renders 1080p at 24 fps where 2 threads give 23)."""
    if gpus:
        count = min(gpus, workers) if workers else gpus
        return [ActorSlot(node_id, host, 1, 1, max(1, cpus // count))] * count
    count = workers or max(1, cpus // 2)
    return [ActorSlot(node_id, host, 0, min(1.0, cpus / count), max(1, cpus // count // 2))] * count


def local_slots(workers: int | None = None) -> list[ActorSlot]:
    """The actors a private Ray instance on this machine would get (:func:`node_slots`, as
    :func:`workers.pool.pool_shape` sizes each Ray node)."""
    return node_slots("local", socket.gethostname(), local_gpus(), os.cpu_count() or 1, workers)


def choose_runner(choice: RunnerChoice, ray_address: str | None, workers: int | None, chunks: int) -> Literal["local", "ray"]:
    """Which runner a CLI job uses.

    ``auto`` renders in this process when no cluster address is given and Ray
    would gain nothing: the machine holds one actor's worth of GPUs or cores
    (``workers`` counts), or the job has at most one chunk left to render. Else Ray.

    Args:
        choice: ``--runner``. ray_address: the cluster to join (empty or None: a private one).
        workers: ``--workers``. chunks: chunks still to render.
    """
    if choice != "auto":
        return choice
    if ray_address:
        return "ray"
    return "local" if len(local_slots(workers)) == 1 or chunks <= 1 else "ray"


class LocalRunner:
    """Renders chunks in this process, one after another, with one :class:`workers.render.ChunkRenderer`.

    The keyer is built once per job and kept, so a process that runs several
    jobs (a batch of shots) pays for the model once per job's analysis, never
    for a process start. A chunk's stop check runs between batches, as on an actor.

    Args:
        threads: onnxruntime intra-op threads (0: :func:`local_slots`' count for one actor).
        max_attempts: tries per chunk over its life on transient errors.
    """

    start_stage = "rendering in-process"

    def __init__(self, threads: int = 0, max_attempts: int = 3) -> None:
        from workers.memory import limit_arenas
        from workers.render import ChunkRenderer

        slot = local_slots(1)[0]
        threads = threads or slot.threads
        limit_arenas()
        self.slots = [ActorSlot(slot.node_id, slot.node_host, slot.gpus, slot.cpus, threads)]
        self.max_attempts = max_attempts
        self.renderer: ChunkRenderer | None = ChunkRenderer(threads)

    def run(self, specs: Sequence[ChunkSpec], events: ChunkEvents, task: Task = "render",
            attempts: dict[int, int] | None = None) -> list[RenderResult]:
        """See :meth:`ChunkRunner.run`. An exception from a callback propagates at once.

        Raises:
            ChunkDead: a chunk failed transiently ``max_attempts`` times.
            MattefarmError: a chunk failed for good.
        """
        from workers.memory import release_free_memory

        if self.renderer is None:
            raise RuntimeError("the runner was shut down")
        tries = dict(attempts or {})
        results: list[RenderResult] = []
        pending = list(specs)
        while pending:
            if events.should_stop():
                break
            spec = pending.pop(0)
            tries[spec.index] = tries.get(spec.index, 0) + 1
            events.on_start(spec, tries[spec.index], self.slots[0])
            try:
                work = self.renderer.analyse if task == "analyse" else self.renderer.render
                result = work(spec, self._reporter(spec, events))
            except Cancelled:
                break
            except MattefarmError as error:
                retry = error.transient and tries[spec.index] < self.max_attempts
                events.on_error(spec, error, not retry)
                if retry:
                    pending.insert(0, spec)
                    continue
                if error.transient:
                    raise ChunkDead(f"chunk {spec.index} failed {tries[spec.index]} times, the last: {error.problem}",
                                    "retry the job once the machine is healthy") from error
                raise
            except Exception as exc:  # noqa: BLE001 - classified as the pool classifies an actor's failure
                failure = MediaError(f"the render failed: {exc!r}", "see the chunk log", detail=traceback.format_exc())
                events.on_error(spec, failure, True)
                raise failure from exc
            finally:
                release_free_memory()
            results.append(result)
            events.on_done(spec, result)
        return sorted(results, key=lambda r: r.index)

    @staticmethod
    def _reporter(spec: ChunkSpec, events: ChunkEvents) -> Callable[[int], None]:
        """Progress of one chunk; raises :class:`Cancelled` (caught by :meth:`run`) once a stop is asked."""
        def report(done: int) -> None:
            if events.should_stop():
                raise Cancelled(f"chunk {spec.index} of job {spec.job_id} was stopped")
            events.on_progress(spec.job_id, spec.index, done)

        return report

    def shutdown(self) -> None:
        """Drop the renderer (its keyer and model sessions)."""
        self.renderer = None
