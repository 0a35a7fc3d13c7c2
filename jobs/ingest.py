"""The ingest stage: probe the source, check and store the plate, analyse the screen, plan the
chunks and split the source into them; the job's plan and chunk rows are recorded in SQL.

Safe to call again: a job that already has a plan is only set running.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from jobs.analysis import analyse_screen
from jobs.events import StageFn, quiet
from jobs.job_plan import JobPlan
from jobs.layout import JobLayout
from jobs.options import RenderOptions
from jobs.plan import chunk_length, plan_chunks
from jobs.split import split_chunks
from jobs.tables import Chunk, Job, Stage, State, set_state
from models.choices import LAYER_CODECS, SEQUENCE_CODECS
from models.colour_management import DEFAULT_COLOURSPACE
from models.keyer_params import KeyerParams
from models.matters import chunk_preroll
from workers.colour import output_tags, sws_colorspace
from workers.encode import EncodeSettings
from workers.frames import full_range_format
from workers.plates import check_plate
from workers.probe import MediaProbe
from workers.source import probe_source
from workers.specs import MatteSpec, PlateSpec
from workers.storage import Storage

if TYPE_CHECKING:
    from jobs.ahead import IngestAhead

# jobs.faces (face models, onnx) is imported only by jobs that replace faces.


FIRST_NUMBER = 1001
"""The file number of the first frame of an image sequence made from a movie (the VFX convention:
frames 1-1000 are left for handles and slates)."""


def source_options(options: RenderOptions) -> tuple[Fraction | None, str | None, str | None]:
    """``(frame rate, input colour space, sound file)`` of the job's source, for
    :func:`workers.source.probe_source`."""
    rate = Fraction(options.frame_rate) if options.frame_rate else None
    return rate, options.input_colorspace, options.audio


def encode_settings(probe: MediaProbe, options: RenderOptions) -> EncodeSettings:
    """How every output stream of the job is encoded: codec, size, timing and the source's colour
    tags (its unspecified ones made explicit, :func:`workers.colour.output_tags`)."""
    video = probe.video
    full_range = full_range_format(video.pix_fmt, video.color_range)
    sequence_out = options.codec in SEQUENCE_CODECS
    primaries, trc, matrix, colour_range = output_tags(video.color_primaries, video.color_trc, video.colorspace,
                                                       video.color_range, video.height, full_range)
    return EncodeSettings(
        codec=options.codec, width=video.width, height=video.height, time_base=video.time_base,
        frame_rate=video.frame_rate, crf=options.crf, preset=options.preset,
        color_primaries=primaries, color_trc=trc, colorspace=matrix, color_range=colour_range,
        sws_colorspace=sws_colorspace(video.colorspace, video.height), full_range=full_range,
        colourspace=(options.output_colorspace or DEFAULT_COLOURSPACE[options.codec]) if sequence_out else "",
        premultiplied=options.premultiplied,
        first_number=(probe.sequence.first if probe.sequence else FIRST_NUMBER) if sequence_out else 0,
        full_chroma=sequence_out and probe.sequence is not None,
    )


def _store_plate(job: Job, options: RenderOptions, storage: Storage) -> PlateSpec | None:
    """Check the plate reads, copy it into the job's storage; None for a keyed layer.

    Raises:
        InputError: the plate is missing or not a readable image or video.
    """
    if options.background is None or options.codec in LAYER_CODECS or options.no_key:
        return None
    kind = check_plate(options.background)
    key = JobLayout(job.id).plate(Path(options.background).suffix.lower())
    storage.put_file(options.background, key)
    return PlateSpec(key, kind)


def store_matte(job: Job, path: str | None, what: str, probe: MediaProbe, storage: Storage) -> MatteSpec | None:
    """Check a garbage or core matte file (``what``) against the shot and copy it into the job's
    storage (an image sequence stays where it is, as a sequence source does); None when not given.

    Raises:
        InputError: the matte is missing, unreadable, of another aspect ratio or shorter than the shot.
    """
    if path is None:
        return None
    from workers.matte_source import check_matte

    kind = check_matte(path, what, probe.frame_count, probe.video.width, probe.video.height)
    if kind == "sequence":
        from workers.image_sequence import sequence_pattern

        return MatteSpec(kind, sequence_pattern(path) or path)
    key = JobLayout(job.id).matte_file(what, Path(path).suffix.lower())
    storage.put_file(path, key)
    return MatteSpec(kind, key)


def _shift_s(probe: MediaProbe) -> Fraction:
    """Seconds to subtract from every stream so the earliest starts at 0."""
    starts = [probe.frame_pts[0] * probe.time_base] + [Fraction(a.start_s).limit_denominator(10**6) for a in probe.audio]
    return min(starts)


def ingest_job(session: Session, job: Job, storage: Storage, on_stage: StageFn = quiet,
               ahead: IngestAhead | None = None) -> None:
    """Probe, analyse the screen, plan and split; store the plan and chunk rows; the job runs.

    ``ahead``: the probe and analysis already under way in a background thread
    (:mod:`jobs.ahead`); used when it was made for this job's source and options.

    Raises:
        InputError: the source or plate is unusable (the job is failed by the caller).
    """
    if job.plan is not None:  # already ingested: a resumed or retried job runs again
        if job.state == State.PENDING:
            set_state(job, State.RUNNING)
            session.commit()
        return
    options = RenderOptions.model_validate(job.options)
    set_state(job, State.RUNNING)
    job.stage = Stage.INGEST
    session.commit()
    ahead = ahead.results_for(job.input_uri, job.options) if ahead is not None else None
    on_stage("probing")
    probe = ahead.probe() if ahead is not None else probe_source(job.input_uri, *source_options(options))
    on_stage("checking the plate")
    plate = _store_plate(job, options, storage)
    garbage = store_matte(job, options.garbage_matte, "garbage", probe, storage)
    core = store_matte(job, options.core_matte, "core", probe, storage)
    faces = None
    if options.face is not None:
        from jobs.faces import store_source_face

        faces = store_source_face(job, options, storage, probe.frame_count)
    params = KeyerParams.from_overrides(options.keyer)
    if options.analyses_screen:  # a shot without a screen (--matte portrait ...) or not keyed has none to analyse
        on_stage("analysing the screen")
    if ahead is not None:
        screen = ahead.screen()
    else:
        screen = analyse_screen(probe, options.screen, params.screen_balance) if options.analyses_screen else None
    preroll = chunk_preroll(options.matte, params)
    plans = plan_chunks(probe, chunk_length(probe, options.chunk_frames, options.chunk_seconds), preroll)
    on_stage(f"splitting into {len(plans)} chunks")
    if probe.sequence is not None:  # a chunk of an image sequence is a range of its files: nothing to split
        job.chunks = [Chunk(index=p.index, frame_start=p.frame_start, frame_end=p.frame_end, preroll_start=p.preroll_start,
                            input_key="", file_pts=list(probe.frame_pts[p.preroll_start:p.frame_end])) for p in plans]
    else:
        split = split_chunks(probe, plans, storage, JobLayout(job.id).split)
        job.chunks = [
            Chunk(index=p.index, frame_start=p.frame_start, frame_end=p.frame_end, preroll_start=p.preroll_start,
                  input_key=s.key, file_pts=list(s.file_pts))
            for p, s in zip(plans, split)
        ]
    job.frames_total = probe.frame_count
    job.plan = JobPlan(probe, screen, params, encode_settings(probe, options), plate, _shift_s(probe), tuple(plans),
                       faces, garbage, core).to_dict()
    job.stage = Stage.RENDER
    session.commit()

