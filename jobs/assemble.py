"""The assemble stage: each output stream's chunk files are concatenated (:mod:`jobs.concat`),
the source's audio muxed in, and the result verified; the outputs appear only when all passed.

Safe to call again: a part file an interrupted assembly left is removed first.
"""

from __future__ import annotations

import os
import shutil
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
from models.choices import FRAME_FIELD, is_sequence_name
from models.errors import MattefarmError, MediaError, VerificationError
from workers.image_sequence import read_rgb, sequence_pattern
from workers.sequence_writer import frame_key
from workers.specs import ChunkSpec
from workers.storage import Storage


def remove_parts(target: str) -> None:
    """Remove the ``{target}.part-*`` files an interrupted assembly left beside ``target`` (an
    image sequence: beside any of its frames)."""
    path = Path(target).expanduser()
    name = path.name
    field = FRAME_FIELD.search(name) if is_sequence_name(target) else None
    stem = f"{name[: field.start()]}*{name[field.end():]}" if field else name
    for stale in path.parent.glob(f"{stem}.part-*"):
        stale.unlink(missing_ok=True)


def _part(target: str) -> str:
    """A temporary name beside ``target`` that :func:`remove_parts` finds."""
    return f"{target}.part-{uuid.uuid4().hex[:8]}{Path(target).suffix}"


def _frame_parts(job: Job, storage: Storage, key_of: Callable[[ChunkSpec], str | None], target: str) -> list[tuple[str, str]]:
    """Copy every chunk's frame files of one stream (an image sequence output) to temporary names
    beside the output's files, and check them: ``[(part, final name)]`` per frame, in order.

    Raises:
        VerificationError: a frame file is missing, or the first or last does not read back at the shot's size.
    """
    plan = JobPlan.of(job)
    pattern = sequence_pattern(str(Path(target).expanduser()))
    if pattern is None:
        raise VerificationError(f"{target} is not an image sequence name", "name it like out.%04d.exr")
    Path(pattern).parent.mkdir(parents=True, exist_ok=True)
    parts: list[tuple[str, str]] = []
    try:
        for spec in (chunk_spec(job, c, storage, plan) for c in job.chunks):
            folder = _key(spec, key_of)
            for i in range(spec.frame_count):
                number = plan.encode.first_number + spec.frame_start + i
                key = frame_key(folder, number, plan.encode.codec)
                if not storage.exists(key):
                    raise VerificationError(f"frame {number} of chunk {spec.index} was not rendered", "retry the job")
                final = pattern % number
                parts.append((_part(final), final))
                with storage.local_copy(key) as local:
                    shutil.copyfile(local, parts[-1][0])
        for part, _ in (parts[0], parts[-1]):
            _check_frame(part, plan.encode.width, plan.encode.height)
    except BaseException:
        for part, _ in parts:
            Path(part).unlink(missing_ok=True)
        raise
    if len(parts) != plan.probe.frame_count:
        raise VerificationError(f"{len(parts)} frame files for a shot of {plan.probe.frame_count} frames", "retry the job")
    return parts


def _check_frame(path: str, width: int, height: int) -> None:
    """A written frame file reads back at the shot's size.

    Raises:
        VerificationError: it does not.
    """
    try:
        frame = read_rgb(path)
    except MattefarmError as exc:
        raise VerificationError(f"the output frame {Path(path).name} cannot be read back ({exc.problem})", "retry the job") from exc
    if frame.shape[:2] != (height, width):
        raise VerificationError(f"the output frame {Path(path).name} is {frame.shape[1]}x{frame.shape[0]}, not "
                                f"{width}x{height}", "retry the job")


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
    part = _part(target)
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
    """Concatenate, mux audio, verify; the outputs appear only when all passed (an image sequence:
    every frame file of every stream is copied beside its final name first, then all are renamed)."""
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
    sequence = JobPlan.of(job).encode.sequence
    try:
        for target, key_of, with_audio in targets:
            if sequence:
                parts += _frame_parts(job, storage, key_of, target)
            else:
                parts.append((_assemble_part(job, storage, key_of, target, with_audio), target))
    except BaseException:
        for part, _ in parts:
            Path(part).unlink(missing_ok=True)
        raise
    for part, target in parts:
        os.replace(part, target)
    job.stage = Stage.FINISHED
    set_state(job, State.DONE)
    session.commit()

