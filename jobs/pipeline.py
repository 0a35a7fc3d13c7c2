"""The stages of a keying job: ingest -> render -> assemble, recorded in SQL.

Each stage takes the job's id, re-reads its row and is safe to call again
(finished work is skipped), so the CLI runs them in a row and the service
(Celery) can run them on different machines.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from jobs.analysis import analyse_screen
from jobs.assemble import ChunkTiming, concat_chunks, verify_output
from jobs.chunk_log import ChunkLog
from jobs.job_plan import JobPlan
from jobs.layout import JobLayout
from jobs.leases import count_failure
from jobs.options import RenderOptions
from jobs.plan import chunk_length, frame_times, plan_chunks
from jobs.split import split_chunks
from jobs.tables import Chunk, Job, Stage, State, set_state, utcnow
from models.errors import ChunkDead, MattefarmError, MediaError, error_kind
from models.keyer_params import KeyerParams
from models.screen import ScreenAnalysis
from workers.colour import output_tags, sws_colorspace
from workers.encode import EncodeSettings
from workers.frames import full_range_format
from workers.plates import check_plate
from workers.probe import MediaProbe, probe_video
from workers.runner import ActorSlot, ChunkRunner, PoolEvents
from workers.specs import ChunkSpec, PlateSpec, RenderResult
from workers.storage import Storage

if TYPE_CHECKING:
    from jobs.ahead import IngestAhead
    from workers.specs import FaceSpec

# jobs.faces (face models, onnx, the Ray pool's types) is imported only by jobs that replace faces.

ProgressFn = Callable[[int, int], None]
"""Called with ``(frames done, frames total)`` of the job."""
StageFn = Callable[[str], None]
"""Told what the job does now, in words (``probing``, ``analysing the screen``, ``splitting``, ...)."""


def _quiet(step: str) -> None:
    """A :data:`StageFn` that tells no one."""


def _face_spec(job: Job, chunk: Chunk, options: RenderOptions, plan: JobPlan) -> FaceSpec | None:
    """:func:`jobs.faces.face_spec`, importing the face code only for a job that replaces faces."""
    if not plan.faces:
        return None
    from jobs.faces import face_spec

    return face_spec(job, chunk, options)


def create_job(
    session: Session, input_path: str, output_path: str, options: RenderOptions, job_id: str | None = None,
    priority: int = 50, owner: str = "", webhook_url: str | None = None,
) -> Job:
    """Record a new pending job (nothing is read yet); ``job_id`` defaults to a new UUID (hex);
    ``webhook_url`` is told when it ends (:mod:`jobs.webhooks`)."""
    job = Job(id=job_id or uuid.uuid4().hex, input_uri=str(input_path), output_uri=str(output_path),
              options=options.model_dump(), priority=priority, owner=owner, webhook_url=webhook_url)
    session.add(job)
    session.commit()
    return job


def _encode_settings(probe: MediaProbe, options: RenderOptions) -> EncodeSettings:
    """How every output stream of the job is encoded: codec, size, timing and the source's colour
    tags (its unspecified ones made explicit, :func:`workers.colour.output_tags`)."""
    video = probe.video
    full_range = full_range_format(video.pix_fmt, video.color_range)
    primaries, trc, matrix, colour_range = output_tags(video.color_primaries, video.color_trc, video.colorspace,
                                                       video.color_range, video.height, full_range)
    return EncodeSettings(
        codec=options.codec, width=video.width, height=video.height, time_base=video.time_base,
        frame_rate=video.frame_rate, crf=options.crf, preset=options.preset,
        color_primaries=primaries, color_trc=trc, colorspace=matrix, color_range=colour_range,
        sws_colorspace=sws_colorspace(video.colorspace, video.height), full_range=full_range,
    )


def _store_plate(job: Job, options: RenderOptions, storage: Storage) -> PlateSpec | None:
    """Check the plate reads, copy it into the job's storage; None for a keyed layer.

    Raises:
        InputError: the plate is missing or not a readable image or video.
    """
    if options.background is None or options.codec == "prores4444" or options.no_key:
        return None
    kind = check_plate(options.background)
    key = JobLayout(job.id).plate(Path(options.background).suffix.lower())
    storage.put_file(options.background, key)
    return PlateSpec(key, kind)


def _shift_s(probe: MediaProbe) -> Fraction:
    """Seconds to subtract from every stream so the earliest starts at 0."""
    starts = [probe.frame_pts[0] * probe.time_base] + [Fraction(a.start_s).limit_denominator(10**6) for a in probe.audio]
    return min(starts)


def ingest_job(session: Session, job: Job, storage: Storage, on_stage: StageFn = _quiet,
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
    probe = ahead.probe() if ahead is not None else probe_video(job.input_uri)
    on_stage("checking the plate")
    plate = _store_plate(job, options, storage)
    faces = None
    if options.face is not None:
        from jobs.faces import store_source_face

        faces = store_source_face(job, options, storage, probe.frame_count)
    params = KeyerParams.from_overrides(options.keyer)
    on_stage("analysing the screen")
    if ahead is not None:
        screen = ahead.screen()
    else:
        screen = None if options.no_key else analyse_screen(probe, options.screen, params.screen_balance)
    plans = plan_chunks(probe, chunk_length(probe, options.chunk_frames, options.chunk_seconds), params.preroll_frames)
    on_stage(f"splitting into {len(plans)} chunks")
    split = split_chunks(probe, plans, storage, JobLayout(job.id).split)
    job.chunks = [
        Chunk(index=p.index, frame_start=p.frame_start, frame_end=p.frame_end, preroll_start=p.preroll_start,
              input_key=s.key, file_pts=list(s.file_pts))
        for p, s in zip(plans, split)
    ]
    job.frames_total = probe.frame_count
    job.plan = JobPlan(probe, screen, params, _encode_settings(probe, options), plate, _shift_s(probe), tuple(plans),
                       faces).to_dict()
    job.stage = Stage.RENDER
    session.commit()


def keyer_spec(probe: MediaProbe, screen: ScreenAnalysis, options: RenderOptions) -> ChunkSpec:
    """A spec that carries what a job's keyer is built from, as :func:`chunk_spec` will give it
    (screen, keyer controls, encoding, provider, matte), and no chunk: to build the keyer
    before the job is split (:meth:`workers.render.ChunkRenderer.keyer_for`). Keying-only jobs."""
    return ChunkSpec(
        job_id="", index=0, storage_root="", input_key="", output_key="",
        matte_key="matte" if options.matte_out else None, frame_start=0, frame_end=0, preroll_start=0,
        file_pts=(), times_s=(), output_pts=(), keyer=KeyerParams.from_overrides(options.keyer).to_dict(),
        screen=screen.to_dict(), encode=_encode_settings(probe, options), providers=options.providers,
        batch_frames=options.batch_frames,
    )


def chunk_spec(job: Job, chunk: Chunk, storage: Storage, plan: JobPlan | None = None) -> ChunkSpec:
    """The render spec of one chunk, from the job's plan (parsed here when not given: a stage
    that makes many specs parses it once, :meth:`jobs.job_plan.JobPlan.of`)."""
    plan = plan or JobPlan.of(job)
    options = RenderOptions.model_validate(job.options)
    probe, shift, encode = plan.probe, plan.shift_pts, plan.encode
    suffix = ".mkv" if encode.codec == "ffv1" else ".mov"
    layout = JobLayout(job.id)
    return ChunkSpec(
        job_id=job.id, index=chunk.index, storage_root=storage.root, input_key=chunk.input_key or "",
        output_key=layout.rendered(chunk.index, suffix),
        matte_key=layout.matte(chunk.index, suffix) if options.matte_out else None,
        frame_start=chunk.frame_start, frame_end=chunk.frame_end, preroll_start=chunk.preroll_start,
        file_pts=tuple(chunk.file_pts or ()), times_s=tuple(frame_times(probe, chunk.preroll_start, chunk.frame_end)),
        output_pts=tuple(p - shift for p in probe.frame_pts[chunk.frame_start : chunk.frame_end]),
        keyer=plan.keyer.to_dict(), screen=plan.screen.to_dict() if plan.screen else {}, encode=encode,
        plate=plan.plate, rotation=probe.video.rotation,
        batch_frames=options.batch_frames, providers=options.providers, faces=_face_spec(job, chunk, options, plan),
    )


class ChunkListener(Protocol):
    """Told of every chunk change as it happens (service mode mirrors it to Redis)."""

    def chunk_changed(self, job: Job, chunk: Chunk) -> None:
        """A chunk's state changed (and was committed to SQL)."""

    def frames_changed(self, job: Job, chunk: Chunk) -> None:
        """A chunk rendered more frames (``chunk.frames_done``, not yet in SQL)."""


@dataclass
class _Recorder:
    """Pool events that write chunk progress to SQL and report job progress.

    ``lease`` is ``(owner, run)`` in service mode: running chunks carry the owner's
    lease, and a chunk that finishes after the job left ``run`` (the reaper gave
    the work to another worker) is not recorded.
    """

    session: Session
    job: Job
    progress: ProgressFn | None
    listener: ChunkListener | None = None
    log: ChunkLog | None = None
    lease: tuple[str, int] | None = None

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


def _analysis_events(recorder: _Recorder, should_stop: Callable[[], bool] | None) -> PoolEvents:
    """Pool callbacks of the face analysis pass: chunk logs only (chunk states belong to the render)."""
    def done(spec: ChunkSpec, result: RenderResult) -> None:
        fps = result.frames / result.seconds if result.seconds else 0.0
        recorder.note(spec.index, f"faces analysed: {result.frames} frames in {result.seconds:.1f} s, {fps:.1f} fps, "
                                  f"on {result.worker} ({result.provider})")

    events = PoolEvents(on_done=done, on_error=lambda spec, error, final: recorder.note(spec.index, f"analysis: {error}"))
    if should_stop is not None:
        events.should_stop = should_stop
    return events


def render_job(
    session: Session, job: Job, storage: Storage, pool: ChunkRunner, progress: ProgressFn | None = None,
    listener: ChunkListener | None = None, should_stop: Callable[[], bool] | None = None, log: ChunkLog | None = None,
    lease: tuple[str, int] | None = None, on_stage: StageFn = _quiet,
) -> None:
    """Render every chunk not yet done with ``pool`` (Ray actors or in-process), recording each in SQL as it finishes.

    Args:
        listener: told of chunk changes (live progress). should_stop: polled while
            chunks run; True cancels the running chunks and returns early.
        log: per-chunk logs to write each attempt's start, end or error to.
        lease: ``(owner, run)`` of the job's lease in service mode (see :class:`_Recorder`).

    Raises:
        ChunkDead: a chunk has had its ``max_attempts`` tries (a retry revives it).
        MattefarmError: a chunk failed for good.
    """
    dead = [c.index for c in job.chunks if c.state == State.DEAD]
    if dead:
        raise ChunkDead(f"chunk {dead[0]} is dead ({job.chunks[dead[0]].error})", "retry the job to revive it")
    recorder = _Recorder(session, job, progress, listener, log, lease)
    plan = JobPlan.of(job)
    if plan.faces and not plan.faces.get("solved"):
        from jobs.faces import analyse_and_solve

        on_stage("analysing faces")
        specs = [chunk_spec(job, c, storage, plan) for c in job.chunks]
        if not analyse_and_solve(session, job, storage, pool, specs, _analysis_events(recorder, should_stop)):  # type: ignore[arg-type]  # jobs.faces names the Ray pool; any ChunkRunner runs its pass
            return
    job.stage = Stage.RENDER
    session.commit()
    if RenderOptions.model_validate(job.options).preview_first:
        _first_look(job, storage, on_stage)
    on_stage(pool.start_stage)
    plan = JobPlan.of(job)  # the face solve may have added to it
    todo = [chunk_spec(job, c, storage, plan) for c in job.chunks if c.state != State.DONE]
    events = PoolEvents(recorder.on_start, recorder.on_progress, recorder.on_done, recorder.on_error)
    if should_stop is not None:
        events.should_stop = should_stop
    pool.run(todo, events, attempts={c.index: c.attempts for c in job.chunks})
    _return_stopped_chunks(session, job, lease[0] if lease else None, recorder)


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


def _return_stopped_chunks(session: Session, job: Job, owner: str | None, recorder: _Recorder) -> None:
    """Chunks cut short by a stop go back to pending: in service mode only those still under
    ``owner``'s lease (a chunk the reaper already put back, or another worker took, is not touched)."""
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


def assemble_job(session: Session, job: Job, storage: Storage, on_stage: StageFn = _quiet) -> None:
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


def fail_job(session: Session, job: Job, error: MattefarmError) -> None:
    """Mark a job failed with the error's one-line reason."""
    session.rollback()
    if job.state not in (State.FAILED, State.DONE, State.CANCELLED):
        set_state(job, State.FAILED, str(error))
        job.error_kind = error_kind(error)
    session.commit()


def cleanup_job(job: Job, storage: Storage) -> None:
    """Remove the job's intermediate files (split, rendered chunks, plate)."""
    storage.delete(JobLayout(job.id).intermediates)


def run_job(
    session: Session, job: Job, storage: Storage, make_pool: Callable[[], ChunkRunner],
    progress: ProgressFn | None = None, keep_intermediates: bool = False, on_stage: StageFn = _quiet,
    ahead: IngestAhead | None = None,
) -> None:
    """Run all stages of a job in this process; on error the job is failed and the error re-raised.

    ``on_stage`` is told what the job does as it goes (probing, splitting, rendering, assembling).
    ``make_pool`` is called once the job is ingested (its chunks known), so it can pick the runner.
    ``ahead``: its probe and analysis, begun in the background (:func:`ingest_job`).

    Intermediate files are removed once the job ends (unless ``keep_intermediates``); an
    interrupted run (Ctrl-C) keeps them, so running it again resumes (:mod:`jobs.resume`).
    """
    try:
        ingest_job(session, job, storage, on_stage, ahead)
        render_job(session, job, storage, make_pool(), progress, on_stage=on_stage, log=ChunkLog(storage, job.id))
        assemble_job(session, job, storage, on_stage)
    except MattefarmError as error:
        fail_job(session, job, error)
        _end(session, job, storage, keep_intermediates)
        raise
    _end(session, job, storage, keep_intermediates)


def _end(session: Session, job: Job, storage: Storage, keep_intermediates: bool) -> None:
    """A CLI job ended: its lease is given up and its intermediate files removed."""
    job.lease_owner, job.heartbeat_at = None, None
    session.commit()
    if not keep_intermediates:
        cleanup_job(job, storage)
