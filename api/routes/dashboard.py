"""The web dashboard: server-rendered pages (job table, job page) updated by a little JavaScript.

The job table refreshes itself every few seconds; a job page follows the job's
Server-Sent Events (``/v1/jobs/{id}/events``) to fill its chunk strip live.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from api.auth import PrincipalDep, farm_is_open
from api.deps import ServicesDep, SessionDep
from api.routes.jobs import TERMINAL, public_job, read_jobs, require_job
from api.routes.workers import read_workers
from api.schemas import JobPublic

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


@router.get("/", response_class=HTMLResponse)
def jobs_page(request: Request, services: ServicesDep, session: SessionDep, principal: PrincipalDep) -> HTMLResponse:
    """Every job the user may see, newest first."""
    page = read_jobs(services=services, session=session, principal=principal, state=None, offset=0, limit=200)
    shots = {job.id: job.shot for job in page.jobs}
    return templates.TemplateResponse(request, "jobs.html", {"page": page, "shots": shots, **_who(request, principal)})


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(request: Request, services: ServicesDep, session: SessionDep, principal: PrincipalDep,
             job_id: str) -> HTMLResponse:
    """One job: facts, chunk strip, chunk table, controls."""
    job = public_job(require_job(session, job_id, principal), services)
    return templates.TemplateResponse(request, "job.html", {"job": job, "shot": job.shot, **_who(request, principal)})


@router.get("/workers", response_class=HTMLResponse)
def workers_page(request: Request, services: ServicesDep, session: SessionDep, principal: PrincipalDep) -> HTMLResponse:
    """Every worker: host, queues, state, current job and chunks, heartbeat age, fps, device, Ray nodes."""
    workers = read_workers(services=services, session=session, principal=principal).workers
    return templates.TemplateResponse(request, "workers.html", {"workers": workers, **_who(request, principal)})


def _who(request: Request, principal: PrincipalDep) -> dict[str, object]:
    """The signed-in user for the page header, and whether the farm is open (a warning there)."""
    return {"user": principal.name, "open_farm": farm_is_open(request)}
