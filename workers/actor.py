"""The Ray actor that owns a keyer on a GPU (or CPU cores) and renders chunks."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import ray

from models.errors import Cancelled
from workers.memory import limit_arenas, release_free_memory
from workers.render import ChunkRenderer
from workers.specs import ChunkSpec, RenderResult


def _reporter(spec: ChunkSpec, progress_actor: Any | None) -> Callable[[int], None]:
    """Progress callback of one chunk task; raises :class:`Cancelled` once Ray cancelled the task."""

    def report(done: int) -> None:
        # ray.cancel() on a running actor task only sets this flag; stop at the
        # next batch (the chunk's partial output is discarded by its writer).
        if ray.get_runtime_context().is_canceled():
            raise Cancelled(f"chunk {spec.index} of job {spec.job_id} was cancelled")
        if progress_actor is not None:
            progress_actor.put_nowait.remote((spec.job_id, spec.index, done))

    return report


@ray.remote
class RenderActor:
    """Loads the model once (per job) and renders chunk specs one after another.

    Args:
        threads: onnxruntime CPU threads for this actor's session (0: default).
    """

    def __init__(self, threads: int = 0) -> None:
        limit_arenas()  # with release_free_memory after each chunk: RSS stays flat over a film
        self.renderer = ChunkRenderer(threads)

    def render(self, spec: ChunkSpec, progress_actor: Any | None = None) -> RenderResult:
        """Render one chunk, reporting progress per frame to ``progress_actor``.

        ``progress_actor`` is the actor of a ``ray.util.queue.Queue``; each report
        ``(job_id, chunk index, frames done)`` is sent without waiting.
        """
        try:
            return self.renderer.render(spec, _reporter(spec, progress_actor))
        finally:
            release_free_memory()

    def analyse(self, spec: ChunkSpec, progress_actor: Any | None = None) -> RenderResult:
        """The face analysis pass over one chunk (:meth:`workers.render.ChunkRenderer.analyse`),
        reporting progress as :meth:`render` does."""
        try:
            return self.renderer.analyse(spec, _reporter(spec, progress_actor))
        finally:
            release_free_memory()

    def ping(self) -> bool:
        """Readiness check."""
        return True

    def pid(self) -> int:
        """The actor's process id (benchmarks read its memory use)."""
        return os.getpid()
