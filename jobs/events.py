"""What a running job tells, and whom: one path for chunk events from the runner to SQL and Redis.

A runner (:class:`workers.runner.ChunkRunner`: Ray actors or in-process) reports
each chunk through :class:`workers.runner.ChunkEvents`. :class:`ChunkRecorder` is
that protocol on the driver: it writes each change to the chunk's row (SQL, the
truth), appends it to the chunk's log, reports the job's progress, and then tells a
:class:`ChunkListener` (service mode: :class:`jobs.progress.LiveMirror`, which
mirrors it to Redis). The path is actor -> (Ray's progress queue, pool only) ->
recorder -> listener.

Also here, the two callbacks a stage is given by its caller: :data:`StageFn`
(what the job does now, in words) and :data:`JobProgressFn` (frames done of the job).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from jobs.chunk_log import ChunkLog
from jobs.leases import count_failure
from jobs.tables import Chunk, Job, State, set_state, utcnow
from models.errors import MattefarmError
from workers.runner import ActorSlot, PoolEvents
from workers.specs import ChunkSpec, RenderResult

JobProgressFn = Callable[[int, int], None]
"""Called with ``(frames done, frames total)`` of the job."""
StageFn = Callable[[str], None]
"""Told what the job does now, in words (``probing``, ``analysing the screen``, ``splitting``, ...)."""


def quiet(step: str) -> None:
    """A :data:`StageFn` that tells no one."""


def never() -> bool:
    """A stop check that never stops."""
    return False


class ChunkListener(Protocol):
    """Told of every chunk change after :class:`ChunkRecorder` has recorded it."""

    def chunk_changed(self, job: Job, chunk: Chunk) -> None:
        """A chunk's state changed (and was committed to SQL)."""

    def frames_changed(self, job: Job, chunk: Chunk) -> None:
        """A chunk rendered more frames (``chunk.frames_done``, not yet in SQL)."""


@dataclass
class ChunkRecorder:
    """The driver's :class:`workers.runner.ChunkEvents`: records each chunk change in SQL and
    its log, reports the job's progress, then tells the listener.

    Attributes:
        session, job: where the chunks' rows are.
        progress: told the job's frames as chunks render.
        listener: told of each change once recorded (live progress).
        log: per-chunk logs each attempt's start, end or error is written to.
        lease: ``(owner, run)`` in service mode: running chunks carry the owner's
            lease, and a chunk that finishes after the job left ``run`` (the reaper
            gave the work to another worker) is not recorded.
        should_stop: polled while chunks run; True stops them.
    """

    session: Session
    job: Job
    progress: JobProgressFn | None = None
    listener: ChunkListener | None = None
    log: ChunkLog | None = None
    lease: tuple[str, int] | None = None
    should_stop: Callable[[], bool] = field(default=never)

    def note(self, index: int, message: str) -> None:
        """Append a line to the chunk's log (when logging)."""
        if self.log is not None:
            self.log.write(index, message)

    def _tell(self, chunk: Chunk, frames_only: bool = False) -> None:
        if self.listener is not None:
            (self.listener.frames_changed if frames_only else self.listener.chunk_changed)(self.job, chunk)

    def _chunk(self, index: int) -> Chunk:
        return self.job.chunks[index]

    def _report(self) -> None:
        if self.progress:
            self.progress(sum(c.frames_done for c in self.job.chunks), self.job.frames_total)

    def still_ours(self) -> bool:
        """Whether the job is still in the run this render holds (always, outside service mode)."""
        if self.lease is None:
            return True
        return self.session.scalar(select(Job.run).where(Job.id == self.job.id)) == self.lease[1]

    def on_start(self, spec: ChunkSpec, attempt: int, slot: ActorSlot) -> None:
        if not self.still_ours():  # cancelled, paused or handed back as it was dispatched: not running on record
            self.note(spec.index, f"attempt {attempt}: started after the job left this run: not recorded")
            return
        chunk = self._chunk(spec.index)
        if chunk.state != State.RUNNING:
            set_state(chunk, State.RUNNING)
        chunk.attempts, chunk.frames_done = attempt, 0
        chunk.node_id, chunk.node_host = slot.node_id, slot.node_host
        if self.lease is not None:
            chunk.lease_owner, chunk.heartbeat_at = self.lease[0], utcnow()
        self.session.commit()
        self.note(spec.index, f"attempt {attempt}: frames {spec.frame_start}-{spec.frame_end - 1}, "
                              f"pre-roll from {spec.preroll_start}, on node {slot.node_host} ({slot.node_id[:12]})")
        self._tell(chunk)

    def on_progress(self, job_id: str, index: int, done: int) -> None:
        chunk = self._chunk(index)
        chunk.frames_done = done
        self._report()
        self._tell(chunk, frames_only=True)

    def on_done(self, spec: ChunkSpec, result: RenderResult) -> None:
        if not self.still_ours():
            self.note(spec.index, f"finished on {result.worker} after its lease was given up: not recorded")
            return
        chunk = self._chunk(spec.index)
        chunk.frames_done, chunk.worker, chunk.seconds = result.frames, result.worker, result.seconds
        chunk.lease_owner, chunk.heartbeat_at = None, None
        set_state(chunk, State.DONE)
        self.job.frames_done = sum(c.frames_done for c in self.job.chunks)
        self.job.provider = result.provider
        self.session.commit()
        self._report()
        fps = (result.frames + result.preroll_frames) / result.seconds if result.seconds else 0.0
        self.note(spec.index, f"done: {result.frames} frames (+{result.preroll_frames} pre-roll) in "
                              f"{result.seconds:.1f} s, {fps:.1f} fps, on {result.worker} ({result.provider})")
        self._tell(chunk)

    def on_error(self, spec: ChunkSpec, error: MattefarmError, final: bool) -> None:
        chunk = self._chunk(spec.index)
        state = State.PENDING if not final else State.DEAD if error.transient else State.FAILED
        set_state(chunk, state, str(error))
        chunk.lease_owner, chunk.heartbeat_at = None, None
        if self.lease is not None and error.transient:
            count_failure(self.job, self.lease[0])
        self.session.commit()
        verdict = {State.PENDING: "will retry", State.DEAD: "dead", State.FAILED: "failed"}[state]
        self.note(spec.index, f"{verdict} (attempt {chunk.attempts}): {error}")
        if error.detail:  # an unexpected error inside the render: its traceback, for whoever mends it
            self.note(spec.index, f"traceback:\n{error.detail.rstrip()}")
        self._tell(chunk)




def analysis_events(recorder: ChunkRecorder) -> PoolEvents:
    """The events of the face analysis pass: chunk logs only (chunk states belong to the render)."""
    def done(spec: ChunkSpec, result: RenderResult) -> None:
        fps = result.frames / result.seconds if result.seconds else 0.0
        recorder.note(spec.index, f"faces analysed: {result.frames} frames in {result.seconds:.1f} s, {fps:.1f} fps, "
                                  f"on {result.worker} ({result.provider})")

    def error(spec: ChunkSpec, error: MattefarmError, final: bool) -> None:
        recorder.note(spec.index, f"analysis: {error}")

    return PoolEvents(on_done=done, on_error=error, should_stop=recorder.should_stop)


def return_stopped_chunks(recorder: ChunkRecorder, owner: str | None) -> None:
    """Chunks cut short by a stop go back to pending: in service mode only those still under
    ``owner``'s lease (a chunk the reaper already put back, or another worker took, is not touched)."""
    session, job = recorder.session, recorder.job
    session.commit()
    query = select(Chunk).where(Chunk.job_id == job.id, Chunk.state == State.RUNNING)
    if owner is not None:
        query = query.where(Chunk.lease_owner == owner)
    stopped = session.scalars(query.execution_options(populate_existing=True)).all()
    for chunk in stopped:  # a stop is not a failure: the attempt it cut short is not counted
        set_state(chunk, State.PENDING)
        chunk.frames_done, chunk.lease_owner, chunk.heartbeat_at = 0, None, None
        chunk.attempts = max(0, chunk.attempts - 1)
        recorder.note(chunk.index, "stopped: the job was cancelled, paused or handed back")
    session.commit()
