"""The FastAPI application of service mode: ``uvicorn --factory api.app:create_app``."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from api.auth import install_auth
from api.deps import Services
from api.problems import install_problem_handlers
from api.routes import dashboard, health, jobs, workers
from api.routes import session as session_routes
from jobs.celery_app import app as celery_app
from jobs.db import make_engine, session_factory
from jobs.progress import LiveProgress
from jobs.reaper import Reaper
from jobs.settings import Settings, get_settings
from jobs.users import users_exist
from workers.storage import Storage

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API with its routes, problem+json errors and services built from ``settings``."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.resolved_database_url())
        services = Services(settings, session_factory(engine), Storage(settings.resolved_storage_root()),
                            LiveProgress.from_url(settings.redis_url))
        app.state.services = services
        reaper = Reaper(services.sessions, settings, celery_app, services.storage, services.live).start()
        with services.sessions() as session:
            if not settings.api_tokens and not users_exist(session):
                log.warning("no users exist: the API is open to anyone who can reach it "
                            "(make the first admin with 'mattefarm token create NAME --admin')")
        yield
        reaper.stop()
        engine.dispose()

    app = FastAPI(title="Mattefarm", version="0.1.0", lifespan=lifespan,
                  description="Distributed green-screen keying: submit shots, follow their chunks, download the results.")
    install_problem_handlers(app)
    install_auth(app)
    app.include_router(health.router)
    app.include_router(jobs.router)
    app.include_router(jobs.batches)
    app.include_router(workers.router)
    app.include_router(dashboard.router)
    app.include_router(session_routes.router)
    app.mount("/static", StaticFiles(directory=Path(__file__).resolve().parent / "static"), name="static")
    return app
