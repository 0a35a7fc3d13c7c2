"""The render spec of each chunk (:class:`workers.specs.ChunkSpec`), made from the job's typed plan."""

from __future__ import annotations

from typing import TYPE_CHECKING

from jobs.ingest import encode_settings
from jobs.job_plan import JobPlan
from jobs.layout import JobLayout
from jobs.options import RenderOptions
from jobs.plan import frame_times
from jobs.tables import Chunk, Job
from models.keyer_params import KeyerParams
from models.screen import ScreenAnalysis
from workers.probe import MediaProbe
from workers.specs import ChunkSpec, MatteSpec
from workers.storage import Storage

if TYPE_CHECKING:
    from workers.specs import FaceSpec

# jobs.faces (face models, onnx) is imported only by jobs that replace faces.


def _face_spec(job: Job, chunk: Chunk, options: RenderOptions, plan: JobPlan) -> FaceSpec | None:
    """:func:`jobs.faces.face_spec`, importing the face code only for a job that replaces faces."""
    if not plan.faces:
        return None
    from jobs.faces import face_spec

    return face_spec(job, chunk, options)


def _user_matte(path: str | None) -> MatteSpec | None:
    """A matte file as the user names it, before ingest stores it (:func:`jobs.ingest.store_matte`)."""
    if path is None:
        return None
    from workers.matte_source import matte_kind

    return MatteSpec(matte_kind(path), path)


def keyer_spec(probe: MediaProbe, screen: ScreenAnalysis, options: RenderOptions) -> ChunkSpec:
    """A spec that carries what a job's keyer is built from, as :func:`chunk_spec` will give it
    (screen, keyer controls, encoding, provider, matte), and no chunk: to build the keyer
    before the job is split (:meth:`workers.render.ChunkRenderer.keyer_for`). Keying-only jobs.
    The garbage and core mattes are the user's own files (ingest copies them into storage after
    this): the keyer is built from their presence, and the spec names what each file is."""
    return ChunkSpec(
        job_id="", index=0, storage_root="", input_key="", output_key="",
        matte_key="matte" if options.matte_out else None, frame_start=0, frame_end=0, preroll_start=0,
        file_pts=(), times_s=(), output_pts=(), keyer=KeyerParams.from_overrides(options.keyer),
        screen=screen, encode=encode_settings(probe, options), providers=options.providers,
        batch_frames=options.batch_frames, garbage_auto=options.garbage == "auto",
        garbage=_user_matte(options.garbage_matte), core=_user_matte(options.core_matte),
        matte=options.matte, matte_model=options.matte_model,
    )


def chunk_spec(job: Job, chunk: Chunk, storage: Storage, plan: JobPlan | None = None) -> ChunkSpec:
    """The render spec of one chunk, from the job's plan (parsed here when not given: a stage
    that makes many specs parses it once, :meth:`jobs.job_plan.JobPlan.of`)."""
    plan = plan or JobPlan.of(job)
    options = RenderOptions.model_validate(job.options)
    probe, shift, encode = plan.probe, plan.shift_pts, plan.encode
    layout = JobLayout(job.id)
    if encode.sequence:  # a folder of frame files per chunk
        output_key, matte_key = layout.rendered_frames(chunk.index), layout.matte_frames(chunk.index)
    else:
        suffix = ".mkv" if encode.codec == "ffv1" else ".mov"
        output_key, matte_key = layout.rendered(chunk.index, suffix), layout.matte(chunk.index, suffix)
    return ChunkSpec(
        job_id=job.id, index=chunk.index, storage_root=storage.root, input_key=chunk.input_key or "",
        output_key=output_key, matte_key=matte_key if options.matte_out else None,
        frame_start=chunk.frame_start, frame_end=chunk.frame_end, preroll_start=chunk.preroll_start,
        file_pts=tuple(chunk.file_pts or ()), times_s=tuple(frame_times(probe, chunk.preroll_start, chunk.frame_end)),
        output_pts=tuple(p - shift for p in probe.frame_pts[chunk.frame_start : chunk.frame_end]),
        keyer=plan.keyer, screen=plan.screen, encode=encode,
        plate=plan.plate, rotation=probe.video.rotation,
        batch_frames=options.batch_frames, providers=options.providers, faces=_face_spec(job, chunk, options, plan),
        sequence=probe.sequence, garbage=plan.garbage, core=plan.core, garbage_auto=options.garbage == "auto",
        matte=options.matte, matte_model=options.matte_model,
    )

