"""``/v1/jobs``: submit, list, read, follow (Server-Sent Events), cancel, download."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any, BinaryIO, TypeVar

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import FileResponse, PlainTextResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from api.auth import PrincipalDep
from api.deps import ServicesDep, SessionDep
from api.keyer_preview import parse_controls, tuned_params
from api.schemas import UPLOAD_PARTS, BatchCreate, BatchPublic, JobCreate, JobPublic, JobsPublic
from jobs.celery_app import app as celery_app
from jobs.chunk_log import ChunkLog
from jobs.controls import cancel_job, pause_job, resume_job, retry_job, set_priority
from jobs.doorbell import ring
from jobs.frame_preview import preview_image, shot_frame
from jobs.layout import JobLayout
from jobs.options import RenderOptions
from jobs.pipeline import create_job as record_job
from jobs.progress import job_event
from jobs.tables import ENDED, Batch, Job, State, User
from jobs.users import Principal
from models.choices import ALLOWED_SUFFIXES
from models.keyer_params import KeyerParams
from workers.contact_sheet import contact_sheet, encode_jpeg
from workers.plates import check_plate

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])
TERMINAL = {state.value for state in ENDED}
_BLOCK = 1 << 20
OFFSET_LIMIT = 1_000_000_000
Options = TypeVar("Options", bound=JobCreate)


def _save_upload(upload: UploadFile, services: ServicesDep, key: str) -> str:
    """Copy an uploaded file to storage in 1 MiB blocks, enforcing the size limit; returns its path.

    Raises:
        HTTPException: 413 when the file is larger than the configured limit.
    """
    limit = services.settings.upload_limit_mb << 20
    written = 0
    with services.storage.writer(key) as tmp, open(tmp, "wb") as out:
        source: BinaryIO = upload.file
        while block := source.read(_BLOCK):
            written += len(block)
            if written > limit:
                raise HTTPException(413, f"{upload.filename} is larger than the upload limit of "
                                         f"{services.settings.upload_limit_mb} MiB (MATTEFARM_UPLOAD_LIMIT_MB)")
            out.write(block)
    return services.storage.path(key)


NAME_LIMIT = 120
"""Longest stored file name (characters): file systems refuse names over 255 bytes."""


def safe_name(filename: str) -> str:
    """A client's file name made safe as a storage key: its base name, with characters other
    than letters, digits, ``.``, ``-`` and ``_`` replaced by ``_``, at most :data:`NAME_LIMIT`
    characters (the stem is cut, the suffix kept)."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", Path(filename.replace("\x00", "")).name).lstrip(".") or "upload"
    stem, suffix = Path(name).stem, Path(name).suffix[:16]
    return stem[: NAME_LIMIT - len(suffix)] + suffix


def _allowed_source(uri: str, roots: list[str]) -> str:
    """A submitted path, if it lies under a configured source root.

    Raises:
        HTTPException: 403 outside every root (or none configured), 404 if missing.
    """
    path = Path(uri).expanduser().resolve()
    if not any(path.is_relative_to(Path(root).expanduser().resolve()) for root in roots):
        raise HTTPException(403, "source_uri is not under a configured source root: upload the file as the "
                                 "'video' part, or ask the farm's operator to add its folder to the source roots")
    if path.is_dir():
        raise HTTPException(422, "source_uri names a folder, not a video file")
    if not path.is_file():
        raise HTTPException(404, f"source_uri {path.name} does not exist on the farm's storage")
    return str(path)


def _parse_options(options: str, schema: type[Options]) -> Options:
    """The multipart ``options`` part as ``schema``.

    Raises:
        HTTPException: 422 when it is not JSON (invalid fields raise ValidationError, also 422).
    """
    try:
        return schema.model_validate(json.loads(options or "{}"))
    except json.JSONDecodeError as exc:
        raise HTTPException(422, f"the options part is not JSON ({exc.msg} at character {exc.pos})") from exc
    except RecursionError as exc:
        raise HTTPException(422, "the options part nests too deeply") from exc


def _prepare_job(services: ServicesDep, request: JobCreate, job_id: str, video: UploadFile | None,
                 source_uri: str | None, stills: dict[str, str | None]) -> tuple[str, str, RenderOptions]:
    """Store a job's footage (or check its path); returns ``(source, output path, render options)``.

    Raises:
        HTTPException: no footage, a path outside the source roots, an upload too large.
        InputError: the plate is not a readable image or video.
        pydantic.ValidationError: inconsistent render options.
    """
    if source_uri is not None:
        source = _allowed_source(source_uri, services.settings.source_roots)
    elif video is not None and video.filename:
        source = _save_upload(video, services, JobLayout(job_id).upload(safe_name(video.filename)))
    else:
        raise HTTPException(422, "send the footage as the 'video' part, or a 'source_uri' in the options")
    if stills["plate"] is not None:
        check_plate(stills["plate"])
    codec = request.render.get("codec", "h264")
    suffix = ALLOWED_SUFFIXES.get(codec, (".mp4",))[0]
    stem = Path(source).stem
    layout = JobLayout(job_id)
    output = services.storage.path(layout.output(stem, suffix))
    matte = services.storage.path(layout.output(stem, suffix, matte=True)) if request.matte else None
    return source, output, request.render_options(stills, matte)


def upload_parts(plate: UploadFile | None = None, face: UploadFile | None = None, reference: UploadFile | None = None,
                 garbage: UploadFile | None = None, core: UploadFile | None = None) -> dict[str, UploadFile | None]:
    """The optional files of a submission beside its footage, by part name (:data:`api.schemas.UPLOAD_PARTS`):
    the ``plate``, the source ``face`` and ``reference`` images, the ``garbage`` and ``core`` mattes
    (a still, a video or roto shapes as JSON)."""
    return {"plate": plate, "face": face, "reference": reference, "garbage": garbage, "core": core}


UploadsDep = Annotated[dict[str, UploadFile | None], Depends(upload_parts)]


def _save_stills(services: ServicesDep, key: str, parts: dict[str, UploadFile | None]) -> dict[str, str | None]:
    """Store the uploaded files (:func:`upload_parts`); their paths by part name (None when not sent)."""
    return {name: _save_upload(part, services, JobLayout(key).upload(safe_name(part.filename), name))
            if part is not None and part.filename else None for name, part in parts.items()}


def _enqueue(session: SessionDep, jobs: list[Job]) -> None:
    for job in jobs:
        ring(session, job, celery_app)


@router.post("", status_code=202,
             summary="Submit a job (multipart: video, plate, face, reference, garbage, core, options JSON)")
def create_job(
    *, services: ServicesDep, session: SessionDep, principal: PrincipalDep, options: Annotated[str, Form()] = "{}",
    video: UploadFile | None = None, uploads: UploadsDep,
) -> JobPublic:
    """Store the uploads, record the job, start its first stage; answers 202 with the job."""
    request = _parse_options(options, JobCreate)
    job_id = uuid.uuid4().hex
    try:
        stills = _save_stills(services, job_id, uploads)
        source, output, render = _prepare_job(services, request, job_id, video, request.source_uri, stills)
    except BaseException:  # a refused request leaves no upload behind
        services.storage.delete(JobLayout(job_id).uploads)
        raise
    job = record_job(session, source, output, render, job_id=job_id, priority=request.priority,
                     owner=owner_of(principal, request.owner), webhook_url=webhook_of(session, principal, request))
    _enqueue(session, [job])
    return JobPublic.of(job, None, datetime.now(timezone.utc))


batches = APIRouter(prefix="/v1/batches", tags=["batches"])


@batches.post("", status_code=202, summary="Submit many shots with shared options (multipart: videos, plate, face, "
                                           "reference, garbage, core, options)")
def create_batch(
    *, services: ServicesDep, session: SessionDep, principal: PrincipalDep, options: Annotated[str, Form()] = "{}",
    videos: list[UploadFile] | None = None, uploads: UploadsDep,
) -> BatchPublic:
    """One job per uploaded video and per ``source_uris`` entry, all with the same options and plate."""
    request = _parse_options(options, BatchCreate)
    shots: list[tuple[UploadFile | None, str | None]] = [(v, None) for v in videos or [] if v.filename]
    shots += [(None, uri) for uri in request.source_uris]
    if not shots:
        raise HTTPException(422, "send the footage as 'videos' parts, or 'source_uris' in the options")
    batch = Batch(id=uuid.uuid4().hex, name=request.name, owner=owner_of(principal, request.owner), options=request.model_dump())
    prepared: list[tuple[str, tuple[str, str, RenderOptions]]] = []
    job_ids = [uuid.uuid4().hex for _ in shots]
    try:
        stills = _save_stills(services, batch.id, uploads)
        for job_id, (video, uri) in zip(job_ids, shots):
            prepared.append((job_id, _prepare_job(services, request, job_id, video, uri, stills)))
    except BaseException:  # a refused request leaves no upload behind
        for key in [batch.id, *job_ids]:
            services.storage.delete(JobLayout(key).uploads)
        raise
    session.add(batch)
    webhook = webhook_of(session, principal, request)
    jobs = [Job(id=job_id, input_uri=source, output_uri=output, options=render.model_dump(), priority=request.priority,
                owner=batch.owner, batch=batch, webhook_url=webhook) for job_id, (source, output, render) in prepared]
    session.add_all(jobs)
    session.commit()
    _enqueue(session, jobs)
    return BatchPublic.of(batch, [public_job(j, services) for j in batch.jobs])


@batches.get("/{batch_id}", summary="A batch: its aggregate state and its jobs")
def read_batch(*, services: ServicesDep, session: SessionDep, principal: PrincipalDep, batch_id: str) -> BatchPublic:
    """The batch with every job's state and progress."""
    batch = session.get(Batch, batch_id) if ID_PATTERN.fullmatch(batch_id) else None
    if batch is None or not principal.may_see(batch):
        raise HTTPException(404, "there is no such batch")
    return BatchPublic.of(batch, [public_job(j, services) for j in batch.jobs])


def owner_of(principal: Principal, requested: str) -> str:
    """Who owns what a request submits: the signed-in user; on an open farm, the ``owner`` it names."""
    return principal.name if principal.name else requested


def webhook_of(session: SessionDep, principal: Principal, request: JobCreate) -> str | None:
    """Where a job's end is told: the URL the request names, else its user's webhook."""
    if request.webhook_url or not principal.name:
        return request.webhook_url
    user = session.get(User, principal.name)
    return user.webhook_url if user is not None else None


ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
"""What a job or batch id can look like (ids are UUIDs in hex); anything else names no row."""


def require_job(session: SessionDep, job_id: str, principal: Principal) -> Job:
    """The job row, if ``principal`` may see it.

    Raises:
        HTTPException: 404 when there is no such job (an id of another form included), or
            it is another user's (whose jobs a user who is not an admin cannot tell from none).
    """
    job = session.get(Job, job_id) if ID_PATTERN.fullmatch(job_id) else None
    if job is not None and not principal.may_see(job):
        job = None
    if job is None:
        raise HTTPException(404, f"there is no job {job_id}" if ID_PATTERN.fullmatch(job_id) else "there is no such job")
    return job


def public_job(job: Job, services: ServicesDep) -> JobPublic:
    """The job's public form, with live frame counts from Redis (rebuilt from SQL if Redis lost them)."""
    return JobPublic.of(job, services.live.chunk_frames(job), datetime.now(timezone.utc))


def like_pattern(text: str) -> str:
    """``%text%`` for SQL ``LIKE ... ESCAPE '\\'``, with the text's own ``%``, ``_`` and ``\\`` taken literally."""
    return "%" + re.sub(r"([\\%_])", r"\\\1", text) + "%"


@router.get("", summary="List jobs, newest first (filters: state, owner, batch, text in the shot's file name)")
def read_jobs(
    *, services: ServicesDep, session: SessionDep, principal: PrincipalDep, state: State | None = None,
    owner: Annotated[str | None, Query(max_length=128, description="only this owner's jobs")] = None,
    batch: Annotated[str | None, Query(max_length=64, description="only this batch's jobs")] = None,
    q: Annotated[str | None, Query(max_length=255, description="text in the shot's file name (any case)")] = None,
    offset: Annotated[int, Query(ge=0, le=OFFSET_LIMIT)] = 0, limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> JobsPublic:
    """A page of jobs, optionally of one state, owner and batch, whose file name contains ``q``."""
    query = select(Job)
    if not principal.admin:
        query = query.where(Job.owner == principal.name)
    if state is not None:
        query = query.where(Job.state == state)
    if owner is not None:
        query = query.where(Job.owner == owner)
    if batch:
        query = query.where(Job.batch_id == batch)
    if q:
        query = query.where(Job.shot.ilike(like_pattern(q), escape="\\"))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(Job.created_at.desc(), Job.id).offset(offset).limit(limit)).all()
    return JobsPublic(jobs=[public_job(j, services) for j in rows], total=total, offset=offset, limit=limit)


@router.get("/{job_id}", summary="A job: state, stage, chunks, progress, timings")
def read_job(*, services: ServicesDep, session: SessionDep, principal: PrincipalDep, job_id: str) -> JobPublic:
    """One job with its chunks and live progress."""
    return public_job(require_job(session, job_id, principal), services)


def _sse(event: dict[str, Any]) -> str:
    return f"event: {event['type']}\ndata: {json.dumps(event)}\n\n"


@router.get("/{job_id}/events", summary="Server-Sent Events of a job until it ends")
def job_events(*, services: ServicesDep, session: SessionDep, principal: PrincipalDep, job_id: str) -> StreamingResponse:
    """A ``snapshot`` event, then ``state``, ``chunk`` and ``progress`` events as they happen."""
    require_job(session, job_id, principal)
    subscription = services.live.subscribe(job_id)  # before the snapshot: nothing is missed

    def snapshot() -> dict[str, Any]:
        with services.sessions() as fresh:
            job = require_job(fresh, job_id, principal)
            return {"type": "snapshot", **public_job(job, services).model_dump(mode="json")}

    def stream() -> Iterator[str]:
        try:
            first = snapshot()
            yield _sse(first)
            if first["state"] in TERMINAL:
                return
            for event in subscription:
                if event is None:  # quiet: re-check SQL, in case the end was published before we listened
                    current = snapshot()
                    if current["state"] in TERMINAL:
                        yield _sse(current)
                        return
                    yield ": keep-alive\n\n"
                    continue
                yield _sse(event)
                if event["type"] == "state" and event["state"] in TERMINAL:
                    return
        finally:
            subscription.close()

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


def _control(services: ServicesDep, session: SessionDep, principal: Principal, job_id: str,
             change: Callable[[Job], None], enqueue: bool = False) -> JobPublic:
    """Apply a control to the job, commit, tell listeners, and enqueue it again if asked."""
    job = require_job(session, job_id, principal)
    change(job)
    session.commit()
    services.live.publish(job_event(job, "state"))
    if enqueue:
        ring(session, job, celery_app)
    return public_job(job, services)


@router.post("/{job_id}/cancel", summary="Cancel a job: dispatching stops, running chunks are cancelled")
def cancel(*, services: ServicesDep, session: SessionDep, principal: PrincipalDep, job_id: str) -> JobPublic:
    """The render task sees the cancellation within a quarter of a second and stops its chunks on the actors;
    the job's intermediate files are removed (by the render too, once it has stopped)."""
    job = _control(services, session, principal, job_id, cancel_job)
    services.storage.delete(JobLayout(job_id).intermediates)
    return job


@router.post("/{job_id}/pause", summary="Pause a job: running chunks go back to pending, finished ones stay")
def pause(*, services: ServicesDep, session: SessionDep, principal: PrincipalDep, job_id: str) -> JobPublic:
    """Hold the job until it is resumed."""
    return _control(services, session, principal, job_id, pause_job)


@router.post("/{job_id}/resume", summary="Resume a paused job")
def resume(*, services: ServicesDep, session: SessionDep, principal: PrincipalDep, job_id: str) -> JobPublic:
    """Queue the job again; only chunks not done are rendered."""
    return _control(services, session, principal, job_id, resume_job, enqueue=True)


@router.post("/{job_id}/retry", summary="Retry a failed or cancelled job (only its unfinished chunks)")
def retry(*, services: ServicesDep, session: SessionDep, principal: PrincipalDep, job_id: str) -> JobPublic:
    """Queue the job again from where it stopped; 409 when a retry cannot help (the job failed on its
    input: :func:`jobs.controls.retry_helps`)."""
    return _control(services, session, principal, job_id, retry_job, enqueue=True)


class JobPatch(BaseModel):
    """``PATCH /v1/jobs/{id}``: the fields a person may change."""

    model_config = ConfigDict(extra="forbid")

    priority: int = Field(ge=0, le=100)


@router.patch("/{job_id}", summary="Change a job's priority (0-100, higher first)")
def update_job(*, services: ServicesDep, session: SessionDep, principal: PrincipalDep, job_id: str, patch: JobPatch) -> JobPublic:
    """The new priority applies to the job's next stages."""
    return _control(services, session, principal, job_id, lambda job: set_priority(job, patch.priority))


def _finished(session: SessionDep, job_id: str, principal: Principal) -> Job:
    job = require_job(session, job_id, principal)
    if job.state != State.DONE:
        raise HTTPException(409, f"job {job_id} is {job.state.value}: its files exist once it is done")
    return job


@router.get("/{job_id}/output", summary="Download the output (HTTP Range supported)")
def read_output(*, session: SessionDep, principal: PrincipalDep, job_id: str) -> FileResponse:
    """The finished output file."""
    job = _finished(session, job_id, principal)
    return FileResponse(job.output_uri, filename=Path(job.output_uri).name)


@router.get("/{job_id}/matte", summary="Download the matte (when the job asked for one)")
def read_matte(*, session: SessionDep, principal: PrincipalDep, job_id: str) -> FileResponse:
    """The finished matte video."""
    matte = RenderOptions.model_validate(_finished(session, job_id, principal).options).matte_out
    if matte is None:
        raise HTTPException(404, f"job {job_id} delivers no matte: submit with options matte=true")
    return FileResponse(matte, filename=Path(matte).name)


@router.get("/{job_id}/preview.jpg", summary="Contact sheet: source | matte | result")
def read_preview(*, services: ServicesDep, session: SessionDep, principal: PrincipalDep, job_id: str) -> Response:
    """Four frames spread over the shot, made once and kept beside the output."""
    job = _finished(session, job_id, principal)
    key = JobLayout(job_id).contact_sheet
    if not services.storage.exists(key):
        matte = RenderOptions.model_validate(job.options).matte_out
        videos = [job.input_uri, *([matte] if matte else []), job.output_uri]
        with services.storage.writer(key) as tmp:
            Path(tmp).write_bytes(encode_jpeg(contact_sheet(videos, rows=4, width=320)))
    return FileResponse(services.storage.path(key), media_type="image/jpeg")


@router.get("/{job_id}/first-look.jpg", summary="First look: frames keyed before the chunks (preview_first)",
            responses={200: {"content": {"image/jpeg": {}}}})
def read_first_look(*, services: ServicesDep, session: SessionDep, principal: PrincipalDep, job_id: str) -> Response:
    """A few frames spread over the shot, keyed before the rest of the job renders (the
    ``preview_first`` option); 404 until they are (or for a job without the option)."""
    require_job(session, job_id, principal)
    key = JobLayout(job_id).first_look
    if not services.storage.exists(key):
        raise HTTPException(404, f"job {job_id} has no first look (yet): submit it with preview_first")
    return FileResponse(services.storage.path(key), media_type="image/jpeg", headers={"Cache-Control": "no-store"})


@router.get("/{job_id}/preview", summary="Keyer tuning: one frame keyed with the given controls, source | matte | result (JPEG)",
            responses={200: {"content": {"image/jpeg": {}}}})
def read_tuning_preview(*, services: ServicesDep, session: SessionDep, principal: PrincipalDep, request: Request,
                        job_id: str, frame: Annotated[int, Query(ge=0, le=OFFSET_LIMIT)] = 0) -> Response:
    """Frame ``frame`` keyed by the render's keyer with the job's screen analysis and keyer controls,
    each other query parameter (``clip_black=0.1``...) overriding one control. 422 names a bad control
    or frame; 409 while the job has no screen analysis yet."""
    job = require_job(session, job_id, principal)
    overrides = parse_controls({k: v for k, v in request.query_params.items() if k != "frame"})
    params = tuned_params(job, overrides)
    shot = services.previews.get((job.id, job.run, frame), lambda: shot_frame(job, frame))
    return Response(encode_jpeg(preview_image(shot, params), quality=85), media_type="image/jpeg",
                    headers={"Cache-Control": "no-store"})


class Rerender(BaseModel):
    """``POST /v1/jobs/{id}/rerender``: the keyer controls the new render uses."""

    model_config = ConfigDict(extra="forbid")

    keyer: dict[str, float] = Field(default_factory=dict, max_length=64,
                                    description="keyer controls (names of --keyer); the others take their defaults")


@router.post("/{job_id}/rerender", status_code=202, summary="Render a job's shot again as a new job, with other keyer controls")
def rerender(*, services: ServicesDep, session: SessionDep, principal: PrincipalDep, job_id: str, body: Rerender) -> JobPublic:
    """A new job with the same source, plate, options, owner and batch as ``job_id`` and the given keyer
    controls; the old job and its output stay. Uploaded files are copied, so deleting either job leaves
    the other whole. 422 names a bad control."""
    old = require_job(session, job_id, principal)
    KeyerParams.from_overrides(body.keyer)
    new_id = uuid.uuid4().hex
    uploads = services.storage.path("uploads/")

    def own_copy(path: str | None, part: str) -> str | None:
        if path is None or not path.startswith(uploads):
            return path  # a file under a source root stays where it is
        key = JobLayout(new_id).upload(Path(path).name, part)
        services.storage.put_file(path, key)
        return services.storage.path(key)

    try:
        source = own_copy(old.input_uri, "") or old.input_uri
        options = {**(old.options or {}), "keyer": body.keyer}
        for part, name in UPLOAD_PARTS.items():
            options[name] = own_copy(options.get(name), part)
        stem, suffix = Path(source).stem, Path(old.output_uri).suffix
        output = services.storage.path(JobLayout(new_id).output(stem, suffix))
        if options.get("matte_out"):
            matte_suffix = Path(options["matte_out"]).suffix
            options["matte_out"] = services.storage.path(JobLayout(new_id).output(stem, matte_suffix, matte=True))
        render = RenderOptions.model_validate(options)
    except BaseException:
        services.storage.delete(JobLayout(new_id).uploads)
        raise
    job = record_job(session, source, output, render, job_id=new_id, priority=old.priority, owner=old.owner,
                     webhook_url=old.webhook_url)
    job.batch_id = old.batch_id
    session.commit()
    _enqueue(session, [job])
    return JobPublic.of(job, None, datetime.now(timezone.utc))


@router.get("/{job_id}/chunks/{index}/log", summary="The tail of one chunk's log")
def read_chunk_log(*, services: ServicesDep, session: SessionDep, principal: PrincipalDep, job_id: str, index: int,
                   lines: Annotated[int, Query(ge=1, le=10_000)] = 200) -> PlainTextResponse:
    """Attempts, workers, timings and errors of the chunk, oldest first."""
    job = require_job(session, job_id, principal)
    if not any(c.index == index for c in job.chunks):
        raise HTTPException(404, f"job {job_id} has no chunk {index}")
    return PlainTextResponse(ChunkLog(services.storage, job_id).tail(index, lines) or "")


@router.get("/{job_id}/log", summary="The tail of all the job's chunk logs together, oldest first")
def read_job_log(*, services: ServicesDep, session: SessionDep, principal: PrincipalDep, job_id: str,
                 lines: Annotated[int, Query(ge=1, le=10_000)] = 200) -> PlainTextResponse:
    """The last ``lines`` lines of every chunk's log merged by time, each marked with its chunk (``#3``)."""
    job = require_job(session, job_id, principal)
    log = ChunkLog(services.storage, job_id)
    merged = [(line[:19], chunk.index, n, f"{line[:19]} #{chunk.index} {line[20:]}")
              for chunk in job.chunks for n, line in enumerate((log.tail(chunk.index, lines) or "").splitlines())]
    return PlainTextResponse("".join(f"{text}\n" for *_, text in sorted(merged)[-lines:]))


@router.delete("/{job_id}", status_code=204, summary="Delete a finished job and its files")
def delete_job(*, services: ServicesDep, session: SessionDep, principal: PrincipalDep, job_id: str) -> None:
    """Remove the job's row, uploads, outputs and live counters (a running job must be cancelled first)."""
    job = require_job(session, job_id, principal)
    if job.state.value not in TERMINAL:
        raise HTTPException(409, f"job {job_id} is {job.state.value}: cancel it first")
    for prefix in JobLayout(job_id).everything:
        services.storage.delete(prefix)
    services.live.forget(job_id)
    session.delete(job)
    session.commit()

