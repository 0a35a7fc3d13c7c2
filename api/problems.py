"""Errors as RFC 9457 problem details (``application/problem+json``), in one place.

Every error the API returns has a ``title`` (the HTTP reason), a ``status``
and a ``detail`` a user can act on; validation errors add ``errors`` with
the offending fields. Mattefarm's own errors carry their status
(:mod:`models.errors`: 422 input, 409 conflict, 503 transient), anything
else is 500 with a one-line reason (never a traceback).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException

from jobs.options import option_errors
from models.errors import MattefarmError

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger(__name__)


def problem(status: int, detail: str, headers: Mapping[str, str] | None = None, **extra: Any) -> JSONResponse:
    """A problem+json response."""
    body = {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _fields(errors: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [{"field": ".".join(str(p) for p in e.get("loc", ())), "message": str(e.get("msg", ""))} for e in errors]


def install_problem_handlers(app: FastAPI) -> None:
    """Route every error through :func:`problem`."""

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        return problem(exc.status_code, str(exc.detail), headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _fields(list(exc.errors()))
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return problem(422, f"the request is not valid: {detail}", errors=errors)

    @app.exception_handler(ValidationError)
    async def _options(request: Request, exc: ValidationError) -> JSONResponse:
        errors = [{"field": where, "message": message} for where, message in option_errors(exc, "api")]
        detail = "; ".join(f"{e['field']}: {e['message']}" if e["field"] else e["message"] for e in errors)
        return problem(422, f"the job options are not valid: {detail}", errors=errors)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return problem(500, f"the server failed on this request ({type(exc).__name__}); the API log has the details")

    @app.exception_handler(MattefarmError)
    async def _mattefarm(request: Request, exc: MattefarmError) -> JSONResponse:
        return problem(exc.http_status, str(exc))
