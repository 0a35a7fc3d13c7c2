"""API payloads ("schemas"): what clients send and receive, validated by Pydantic."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import PurePath
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from jobs.controls import retry_helps
from jobs.job_plan import FacePlan
from jobs.options import RenderOptions
from jobs.tables import Batch, Chunk, Job, as_utc
from jobs.webhooks import check_url

PATH_LIMIT = 4096
"""Longest path a request may name (Linux's PATH_MAX)."""


def _strings(value: Any, where: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], str]]:
    """Every string inside a JSON value (keys too), with where it lies."""
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key, where)
            yield from _strings(item, (*where, str(key)))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _strings(item, (*where, str(i)))


UPLOAD_PARTS: dict[str, str] = {"plate": "background", "face": "face", "reference": "reference_image",
                                "garbage": "garbage_matte", "core": "core_matte"}
"""The files a submission may upload beside its footage: multipart part name -> the render option that
holds the stored file's path (the server fills these in; a request's own values for them are ignored)."""


class JobCreate(BaseModel):
    """The ``options`` part of ``POST /v1/jobs`` (JSON); the files come as multipart parts.

    Attributes:
        render: render options (:class:`jobs.options.RenderOptions` without the
            paths, which the server chooses: ``background``, ``matte_out``, ``face``, ``workers``;
            the plate and the source face image come as the ``plate`` and ``face`` parts, the
            garbage and core mattes as the ``garbage`` and ``core`` parts; ``garbage`` ``auto``
            is a field).
        matte: also deliver the matte as a separate video.
        priority: 0-100, higher is taken first. owner: who submitted it (free text).
        source_uri: a file already on the farm's storage, under a configured root,
            instead of an uploaded ``video``.
    """

    model_config = ConfigDict(extra="forbid")

    render: dict[str, Any] = Field(default_factory=dict, max_length=64)
    matte: bool = False
    priority: int = Field(50, ge=0, le=100)
    owner: str = Field("", max_length=128)
    source_uri: str | None = Field(None, min_length=1, max_length=PATH_LIMIT)
    webhook_url: str | None = Field(None, description="told when the job ends (a signed JSON POST); "
                                                      "default: the user's webhook")

    @field_validator("webhook_url")
    @classmethod
    def _webhook(cls, value: str | None) -> str | None:
        return None if value is None else check_url(value)

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        """A NUL character in any text field is refused (no file name or database field takes one)."""
        for where, text in _strings(data, ()):
            if "\x00" in text:
                raise ValueError(f"{'.'.join(where) or 'options'} contains a NUL character")
        return data

    def render_options(self, uploads: dict[str, str | None], matte_out: str | None) -> RenderOptions:
        """The full render options with the server's paths filled in: the stored uploads by part name
        (:data:`UPLOAD_PARTS`; a part not sent is None) and the matte pass's path.

        Raises:
            pydantic.ValidationError: the options are inconsistent.
        """
        server_side = (*UPLOAD_PARTS.values(), "matte_out", "workers")
        fixed = {k: v for k, v in self.render.items() if k not in server_side}
        paths = {option: uploads.get(part) for part, option in UPLOAD_PARTS.items()}
        return RenderOptions(**fixed, **paths, matte_out=matte_out)


class ChunkPublic(BaseModel):
    """One chunk of a job as the dashboard shows it."""

    index: int
    state: str
    frame_start: int
    frame_end: int
    frames_done: int
    attempts: int
    worker: str | None = Field(description="host:pid of the render actor of the latest attempt")
    node_id: str | None = Field(description="the Ray node of the latest attempt")
    node_host: str | None = Field(description="that node's host")
    lease_owner: str | None = Field(description="the worker holding the running attempt's lease")
    heartbeat_at: datetime | None
    started_at: datetime | None = Field(None, description="when its first attempt started (UTC)")
    finished_at: datetime | None = Field(None, description="when it finished (UTC)")
    seconds: float | None
    error: str | None

    @classmethod
    def of(cls, chunk: Chunk, frames_done: int | None = None) -> "ChunkPublic":
        """From a row; ``frames_done`` from live progress when given."""
        return cls(index=chunk.index, state=chunk.state.value, frame_start=chunk.frame_start, frame_end=chunk.frame_end,
                   frames_done=chunk.frames_done if frames_done is None else frames_done, attempts=chunk.attempts,
                   worker=chunk.worker, node_id=chunk.node_id, node_host=chunk.node_host, lease_owner=chunk.lease_owner,
                   heartbeat_at=as_utc(chunk.heartbeat_at), started_at=as_utc(chunk.started_at),
                   finished_at=as_utc(chunk.finished_at), seconds=chunk.seconds, error=chunk.error)


class JobPublic(BaseModel):
    """A job: state, stage, progress, timings, chunks and links."""

    id: str
    shot: str = Field(description="the source file's name")
    state: str
    stage: str
    priority: int
    owner: str
    batch_id: str | None = Field(None, description="the batch it was submitted in (POST /v1/batches), if any")
    frames_done: int
    frames_total: int
    fps: float | None = Field(None, description="frames rendered per second of render time so far")
    eta_s: float | None = Field(None, description="seconds until the render is done, at the current fps")
    provider: str | None
    error: str | None
    error_kind: str | None = Field(None, description="the class of the error it failed on (InputError, MediaError...)")
    retryable: bool = Field(False, description="a retry can help: it failed or was cancelled, not on its input")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    elapsed_s: float | None = Field(None, description="seconds from its start to its end (or now, while it runs)")
    total_s: float = Field(0.0, description="seconds from its submission to its end (or now)")
    chunks: list[ChunkPublic]
    links: dict[str, str]
    faces: dict[str, Any] | None = Field(None, description="face replacement: the solve's counts and jitter (px), "
                                                           "analysis seconds or reused")

    @classmethod
    def of(cls, job: Job, live: dict[int, int] | None, now: datetime) -> "JobPublic":
        """From a row and its live per-chunk frame counts (None: use SQL's); ``now`` aware."""
        chunks = [ChunkPublic.of(c, None if live is None else live.get(c.index, c.frames_done)) for c in job.chunks]
        done = sum(c.frames_done for c in chunks) if chunks else job.frames_done
        fps = eta = None
        created, started, finished = (as_utc(t) for t in (job.created_at, job.started_at, job.finished_at))
        if started is not None and done:
            elapsed = ((finished or now) - started).total_seconds()
            fps = done / elapsed if elapsed > 0 else None
            if fps and job.finished_at is None:
                eta = (job.frames_total - done) / fps
        base = f"/v1/jobs/{job.id}"
        links = {"self": base, "events": f"{base}/events", "cancel": f"{base}/cancel", "output": f"{base}/output",
                 "preview": f"{base}/preview"}
        if (job.options or {}).get("matte_out"):
            links["matte"] = f"{base}/matte"
        end = finished or now
        return cls(id=job.id, shot=PurePath(job.input_uri).name, state=job.state.value, stage=job.stage.value, priority=job.priority, owner=job.owner,
                   batch_id=job.batch_id, frames_done=done, frames_total=job.frames_total, fps=fps, eta_s=eta, provider=job.provider,
                   error=job.error, error_kind=job.error_kind, retryable=retry_helps(job), created_at=created,
                   started_at=started, finished_at=finished,
                   elapsed_s=(end - started).total_seconds() if started else None, total_s=(end - (created or now)).total_seconds(),
                   chunks=chunks, links=links, faces=_faces_summary(job))


def _faces_summary(job: Job) -> dict[str, Any] | None:
    """The plan's face entry without storage keys (None: keying only)."""
    faces = FacePlan.of(job)
    if faces is None:
        return None
    return {k: v for k, v in faces.to_dict().items() if k not in ("source_key", "fingerprint")}


class JobsPublic(BaseModel):
    """A page of jobs, newest first."""

    jobs: list[JobPublic]
    total: int
    offset: int
    limit: int


class BatchCreate(JobCreate):
    """The ``options`` part of ``POST /v1/batches``: shared job options, a name, and optional paths.

    Attributes:
        name: a label for the batch (e.g. the reel). source_uris: files under a source root,
            one job each, besides the uploaded ``videos``.
    """

    name: str = Field("", max_length=256)
    source_uris: list[Annotated[str, Field(min_length=1, max_length=PATH_LIMIT)]] = Field(default_factory=list,
                                                                                          max_length=1000)


class BatchPublic(BaseModel):
    """A batch: its aggregate state (running while any job runs or waits) and its jobs."""

    id: str
    name: str
    owner: str
    state: str
    frames_done: int
    frames_total: int
    created_at: datetime
    jobs: list[JobPublic]

    @classmethod
    def of(cls, batch: Batch, jobs: list[JobPublic]) -> "BatchPublic":
        """From a row and its jobs' public forms."""
        return cls(id=batch.id, name=batch.name, owner=batch.owner, state=batch.state.value,
                   frames_done=sum(j.frames_done for j in jobs), frames_total=sum(j.frames_total for j in jobs),
                   created_at=as_utc(batch.created_at), jobs=jobs)
