"""The render stage: every chunk not yet done is rendered by a runner, each change recorded as
it happens (:class:`jobs.events.ChunkRecorder`); a job that replaces faces first runs the face
analysis pass and the solve over the whole shot (:mod:`jobs.faces`).

Safe to call again: finished chunks are skipped, a stopped chunk goes back to pending.
"""

from __future__ import annotations

from pathlib import Path

from jobs.chunk_specs import chunk_spec
from jobs.events import ChunkRecorder, StageFn, analysis_events, quiet, return_stopped_chunks
from jobs.job_plan import JobPlan
from jobs.layout import JobLayout
from jobs.options import RenderOptions
from jobs.tables import Job, Stage, State
from models.errors import ChunkDead
from workers.runner import ChunkRunner
from workers.storage import Storage

# jobs.faces and jobs.frame_preview (models, onnx) are imported only by jobs that use them.


def render_job(recorder: ChunkRecorder, storage: Storage, pool: ChunkRunner, on_stage: StageFn = quiet) -> None:
    """Render every chunk of ``recorder.job`` not yet done with ``pool`` (Ray actors or in-process).

    ``recorder`` records each chunk change (SQL, logs, progress, listener) and says when
    to stop (``recorder.should_stop``: the running chunks are cancelled, go back to
    pending, and this returns early).

    Raises:
        ChunkDead: a chunk has had its ``max_attempts`` tries (a retry revives it).
        MattefarmError: a chunk failed for good.
    """
    session, job = recorder.session, recorder.job
    dead = [c.index for c in job.chunks if c.state == State.DEAD]
    if dead:
        raise ChunkDead(f"chunk {dead[0]} is dead ({job.chunks[dead[0]].error})", "retry the job to revive it")
    plan = JobPlan.of(job)
    if plan.faces is not None and not plan.faces.solved:
        from jobs.faces import analyse_and_solve

        on_stage("analysing faces")
        specs = [chunk_spec(job, c, storage, plan) for c in job.chunks]
        if not analyse_and_solve(session, job, storage, pool, specs, analysis_events(recorder)):
            return
    job.stage = Stage.RENDER
    session.commit()
    if RenderOptions.model_validate(job.options).preview_first:
        _first_look(job, storage, on_stage)
    on_stage(pool.start_stage)
    plan = JobPlan.of(job)  # the face solve may have added to it
    todo = [chunk_spec(job, c, storage, plan) for c in job.chunks if c.state != State.DONE]
    try:
        pool.run(todo, recorder, attempts={c.index: c.attempts for c in job.chunks})
    finally:  # the pool has stopped every chunk it ran, whether it returned or raised: none is running now
        return_stopped_chunks(recorder, recorder.lease[0] if recorder.lease else None)


def _first_look(job: Job, storage: Storage, on_stage: StageFn) -> None:
    """Key a few frames spread over the shot and keep them (:attr:`jobs.layout.JobLayout.first_look`),
    once per job, before its chunks render; a job that keys no screen has none."""
    key = JobLayout(job.id).first_look
    if job.plan is None or not job.plan.get("screen") or storage.exists(key):
        return
    from jobs.frame_preview import first_look
    from workers.contact_sheet import encode_jpeg

    on_stage("keying the first look")
    image = encode_jpeg(first_look(job))
    with storage.writer(key) as path:
        Path(path).write_bytes(image)
    on_stage(f"first look: {storage.path(key)}")


