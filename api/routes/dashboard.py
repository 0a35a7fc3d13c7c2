"""The web dashboard: server-rendered pages (job table, job page) updated by a little JavaScript.

The job table refreshes itself every few seconds; a job page follows the job's
Server-Sent Events (``/v1/jobs/{id}/events``) to fill its chunk strip live.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import select

from api.auth import PrincipalDep, farm_is_open
from api.deps import ServicesDep, SessionDep
from api.job_facts import chunk_timeline, job_settings, keyer_values
from api.keyer_preview import Control, tuning_controls
from api.routes.jobs import TERMINAL, public_job, read_jobs, require_job
from api.routes.workers import read_workers
from api.schemas import BatchPublic, JobPublic, JobsPublic
from jobs.controls import retry_refusal
from jobs.tables import Batch, Job, State
from models.keyer_params import EDGE_RANGES

templates = Jinja2Templates(directory=Path(__file__).resolve().parents[1] / "templates")
router = APIRouter(include_in_schema=False)


def duration(seconds: float | None) -> str:
    """``1h05m``, ``3m20s``, ``42s``; ``–`` when unknown."""
    if seconds is None:
        return "–"
    s = round(seconds)
    if s >= 3600:
        return f"{s // 3600}h{s // 60 % 60:02d}m"
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


def percent(job: JobPublic) -> float:
    """Share of frames done, 0-100."""
    return round(100 * job.frames_done / job.frames_total, 1) if job.frames_total else 0.0


templates.env.globals.update(duration=duration, percent=percent, terminal=sorted(TERMINAL))


def when(moment: datetime | None) -> str:
    """A time as ``2026-11-30 14:05:12`` (UTC, as stored); ``–`` when unknown."""
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment is not None else "–"


templates.env.globals.update(when=when)


@dataclass
class JobGroup:
    """Rows of the job table: one job alone, or a batch's jobs under its group row (``batch`` set)."""

    jobs: list[JobPublic]
    batch: BatchPublic | None = None


def group_by_batch(session: SessionDep, services: ServicesDep, jobs: list[JobPublic]) -> list[JobGroup]:
    """The listed jobs in their order, each batch's jobs gathered where its first listed job is,
    under the batch's aggregate (state and progress of all its jobs, listed or not)."""
    groups: list[JobGroup] = []
    batches: dict[str, JobGroup] = {}
    for job in jobs:
        if job.batch_id is None:
            groups.append(JobGroup([job]))
        elif job.batch_id in batches:
            batches[job.batch_id].jobs.append(job)
        else:
            row = session.get(Batch, job.batch_id)
            summary = BatchPublic.of(row, [public_job(j, services) for j in row.jobs]) if row is not None else None
            batches[job.batch_id] = group = JobGroup([job], summary)
            groups.append(group)
    return groups


def batch_times(batch: BatchPublic) -> dict[str, Any]:
    """A batch's ``started`` (its first job's start), ``finished`` (its last job's end, once every job
    has ended), ``elapsed_s`` (start to end, or now) and ``total_s`` (submission to end, or now)."""
    starts = [j.started_at for j in batch.jobs if j.started_at]
    ends = [j.finished_at for j in batch.jobs if j.finished_at]
    started = min(starts, default=None)
    finished = max(ends) if ends and len(ends) == len(batch.jobs) else None
    end = finished or datetime.now(timezone.utc)
    return {"started": started, "finished": finished, "elapsed_s": (end - started).total_seconds() if started else None,
            "total_s": (end - batch.created_at).total_seconds()}


templates.env.globals.update(batch_times=batch_times)


def edge_controls() -> list[Control]:
    """The keyer's edge controls (:data:`models.keyer_params.EDGE_RANGES`) as the submit form offers them:
    names, defaults, ranges and help from :class:`models.keyer_params.KeyerParams` itself."""
    names = {name for name, _, _ in EDGE_RANGES}
    return [c for c in tuning_controls() if c.name in names]


@router.get("/", response_class=HTMLResponse)
def jobs_page(request: Request, services: ServicesDep, session: SessionDep, principal: PrincipalDep,
              state: str = "", owner: str = "", batch: str = "", q: str = "") -> HTMLResponse:
    """The jobs the user may see, newest first, filtered by state, owner, batch and text in the shot's
    name, each batch's jobs grouped under its aggregate row. An unknown state lists nothing."""
    known = {s.value for s in State}
    page = read_jobs(services=services, session=session, principal=principal,
                     state=State(state) if state in known else None, owner=owner or None, batch=batch[:64] or None,
                     q=q[:255] or None, offset=0, limit=500)
    if state and state not in known:
        page = JobsPublic(jobs=[], total=0, offset=0, limit=500)
    visible = select(Job).where(Job.owner == principal.name) if not principal.admin else select(Job)
    owners = sorted(set(session.scalars(visible.with_only_columns(Job.owner).distinct())) - {""})
    batch_rows = session.scalars(select(Batch).where(Batch.id.in_(visible.with_only_columns(Job.batch_id)))
                                 .order_by(Batch.created_at.desc()).limit(200)).all()
    filters = {"state": state, "owner": owner, "batch": batch, "q": q}
    return templates.TemplateResponse(request, "jobs.html", {
        "page": page, "groups": group_by_batch(session, services, page.jobs), "filters": filters,
        "states": [s.value for s in State if s != State.DEAD], "owners": owners, "batches": batch_rows,
        "edge_controls": edge_controls(), **_who(request, principal)})


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(request: Request, services: ServicesDep, session: SessionDep, principal: PrincipalDep,
             job_id: str) -> HTMLResponse:
    """One job: facts, controls, settings, outputs, chunk strip, timeline, chunk table, log tail, keyer tuning."""
    row = require_job(session, job_id, principal)
    job = public_job(row, services)
    batch = session.get(Batch, row.batch_id) if row.batch_id else None
    keyer = keyer_values(row)
    controls = [(c, keyer.get(c.name, c.default)) for c in tuning_controls()]
    return templates.TemplateResponse(request, "job.html", {
        "job": job, "shot": job.shot, "batch": batch, "settings": job_settings(row), "controls": controls,
        "keyer_changed": sum(value != c.default for c, value in controls),
        "timeline": chunk_timeline(row, datetime.now(timezone.utc)), "retry_refusal": retry_refusal(row),
        "tunable": bool(row.plan and row.plan.get("screen")),
        "first_look": bool((row.options or {}).get("preview_first")), **_who(request, principal)})


@router.get("/workers", response_class=HTMLResponse)
def workers_page(request: Request, services: ServicesDep, session: SessionDep, principal: PrincipalDep) -> HTMLResponse:
    """Every worker: host, queues, state, current job and chunks, heartbeat age, fps, device, Ray nodes."""
    workers = read_workers(services=services, session=session, principal=principal).workers
    return templates.TemplateResponse(request, "workers.html", {"workers": workers, **_who(request, principal)})


def _who(request: Request, principal: PrincipalDep) -> dict[str, object]:
    """The signed-in user for the page header, and whether the farm is open (a warning there)."""
    return {"user": principal.name, "open_farm": farm_is_open(request)}
