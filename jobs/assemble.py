"""The assemble stage: each output stream's chunk files are concatenated (:mod:`jobs.concat`),
the source's audio muxed in, and the result verified; the outputs appear only when all passed.

Safe to call again: a part file an interrupted assembly left is removed first.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from sqlalchemy.orm import Session

from jobs.chunk_specs import chunk_spec
from jobs.concat import ChunkTiming, concat_chunks, verify_output
from jobs.events import StageFn, quiet
from jobs.job_plan import JobPlan
from jobs.options import RenderOptions
from jobs.tables import Job, Stage, State, set_state
from models.errors import MediaError
from workers.specs import ChunkSpec
from workers.storage import Storage


def remove_parts(target: str) -> None:
    """Remove the ``{target}.part-*`` files an interrupted assembly left beside ``target``."""
    path = Path(target).expanduser()
    for stale in path.parent.glob(f"{path.name}.part-*"):
        stale.unlink(missing_ok=True)


def _assemble_part(job: Job, storage: Storage, key_of: Callable[[ChunkSpec], str | None], target: str, with_audio: bool) -> str:
    """Concatenate one stream of chunk files into a temporary file beside ``target`` and verify it.

    Returns:
        The verified temporary file; the caller renames it into place.
    """
    plan = JobPlan.of(job)
    probe = plan.probe
    specs = [chunk_spec(job, c, storage, plan) for c in job.chunks]
    end = probe.frame_pts[-1] + probe.frame_duration - plan.shift_pts
    ends = [s.output_pts[0] for s in specs[1:]] + [end]
    part = f"{target}.part-{uuid.uuid4().hex[:8]}{Path(target).suffix}"
    Path(target).expanduser().parent.mkdir(parents=True, exist_ok=True)
    try:
        with ExitStack() as stack:
            timings = [
                ChunkTiming(stack.enter_context(storage.local_copy(_key(s, key_of))), s.output_pts, e)
                for s, e in zip(specs, ends)
            ]
            concat_chunks(timings, part, plan.encode, probe if with_audio else None, probe.video.rotation, plan.shift_s)
        verify_output(part, probe, with_audio=with_audio)
    except BaseException:
        if os.path.exists(part):
            os.unlink(part)
        raise
    return part


def _key(spec: ChunkSpec, key_of: Callable[[ChunkSpec], str | None]) -> str:
    """The storage key ``key_of`` names for a chunk's file.

    Raises:
        MediaError: the chunk has no such file (a matte asked of a job rendered without one).
    """
    key = key_of(spec)
    if key is None:
        raise MediaError(f"chunk {spec.index} of job {spec.job_id} has no file to assemble", "render the job again")
    return key


def assemble_job(session: Session, job: Job, storage: Storage, on_stage: StageFn = quiet) -> None:
    """Concatenate, mux audio, verify; the outputs appear only when all passed."""
    on_stage("assembling")
    job.stage = Stage.ASSEMBLE
    session.commit()
    options = RenderOptions.model_validate(job.options)
    targets = [(job.output_uri, lambda s: s.output_key, True)]
    if options.matte_out:
        targets.append((options.matte_out, lambda s: s.matte_key, False))
    for target, _, _ in targets:  # an assembly cut short by a crash left its part file behind
        remove_parts(target)
    parts: list[tuple[str, str]] = []
    try:
        for target, key_of, with_audio in targets:
            parts.append((_assemble_part(job, storage, key_of, target, with_audio), target))
    except BaseException:
        for part, _ in parts:
            os.unlink(part)
        raise
    for part, target in parts:
        os.replace(part, target)
    job.stage = Stage.FINISHED
    set_state(job, State.DONE)
    session.commit()

