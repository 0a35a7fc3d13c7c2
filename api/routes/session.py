"""Dashboard sign-in: ``GET /login`` (the form), ``POST /login`` (form field ``token``) sets the
session cookie, ``/logout`` clears it (see :mod:`api.auth`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from api.auth import COOKIE, principal_of

templates = Jinja2Templates(directory=Path(__file__).resolve().parents[1] / "templates")
router = APIRouter(include_in_schema=False)


def _local_path(target: str) -> str:
    """A redirect target on this site only (no ``//host`` or scheme): else ``/``."""
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/"


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/") -> HTMLResponse:  # noqa: A002 - the query's name
    """The sign-in form."""
    return templates.TemplateResponse(request, "login.html", {"next": _local_path(next), "error": None})


@router.post("/login")
async def login(request: Request, token: Annotated[str, Form(max_length=256)], next: Annotated[str, Form()] = "/") -> Response:  # noqa: A002
    """Check the token; set the HTTP-only, SameSite=Strict session cookie and go on, or show the form again (401)."""
    principal = await run_in_threadpool(principal_of, request, token.strip())
    if principal is None:
        return templates.TemplateResponse(request, "login.html", {"next": _local_path(next),
                                                                  "error": "that token is not valid (or was revoked)"},
                                          status_code=401)
    response = RedirectResponse(_local_path(next), status_code=303)
    response.set_cookie(COOKIE, token.strip(), httponly=True, samesite="strict", secure=request.url.scheme == "https",
                        max_age=30 * 24 * 3600)
    return response


@router.api_route("/logout", methods=["GET", "POST"])
def logout() -> Response:
    """End the session: the cookie is cleared, back to the sign-in form."""
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE)
    return response
