"""``/healthz`` (the process answers), ``/readyz`` (its dependencies answer), ``/metrics`` (Prometheus)."""

from __future__ import annotations

import socket
from urllib.parse import urlparse

import redis
from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from sqlalchemy import text

from api.deps import ServicesDep
from api.metrics import FarmCollector

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The API process is up")
def healthz() -> dict[str, str]:
    """Always ``ok`` while the process serves requests."""
    return {"status": "ok"}


def _ray_reachable(address: str) -> bool:
    """A TCP connect to the Ray head's GCS port (``host:port``); an empty address means a local cluster."""
    if not address or address == "auto":
        return True
    parsed = urlparse(address if "://" in address else f"ray://{address}")
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 6379), timeout=2.0):
            return True
    except OSError:
        return False


@router.get("/readyz", summary="Database, Redis, broker and Ray are reachable")
def readyz(services: ServicesDep) -> JSONResponse:
    """503 with the failing checks when a dependency does not answer."""
    checks: dict[str, bool] = {}
    try:
        with services.sessions() as session:
            session.execute(text("SELECT 1"))
        checks["database"] = True
    except Exception:  # noqa: BLE001 - any failure means not ready
        checks["database"] = False
    for name, url in (("redis", services.settings.redis_url), ("broker", services.settings.resolved_broker_url())):
        try:
            checks[name] = bool(redis.Redis.from_url(url, socket_timeout=2.0).ping())
        except redis.RedisError:
            checks[name] = False
    checks["ray"] = _ray_reachable(services.settings.ray_address)
    ready = all(checks.values())
    return JSONResponse({"status": "ready" if ready else "not ready", "checks": checks}, status_code=200 if ready else 503)


@router.get("/metrics", summary="Prometheus metrics: jobs by state, frames, fps, queue depth, chunk times")
def metrics(services: ServicesDep) -> Response:
    """The text exposition format, collected from SQL and the broker now."""
    registry = CollectorRegistry()
    registry.register(FarmCollector(services.sessions, services.settings.resolved_broker_url()))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
