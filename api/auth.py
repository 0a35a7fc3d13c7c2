"""Who a request acts for: API tokens (``Authorization: Bearer``) and the dashboard's sign-in.

Every request passes :func:`authenticate_request` (an HTTP middleware) except
``/healthz``, ``/readyz``, ``/login`` and ``/static``. With no user in SQL and
no legacy ``MATTEFARM_API_TOKENS``, the farm is open: the request acts as
:data:`jobs.users.OPEN`. Otherwise it needs a token, sent as a bearer token
(the CLI, Prometheus) or in the session cookie the sign-in sets (the
dashboard): a page without one is sent to ``/login``, anything else answers
401. The cookie is HTTP-only and ``SameSite=Strict``; a state-changing request
authenticated by it must also carry ``X-Requested-With: mattefarm`` (a header
a cross-site form cannot send and a cross-site script may not without the
server's consent), so controls are safe against cross-site requests.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from api.problems import problem
from jobs.users import OPEN, Principal, authenticate, users_exist

log = logging.getLogger(__name__)

COOKIE = "mattefarm_session"
CSRF_HEADER, CSRF_VALUE = "x-requested-with", "mattefarm"
OPEN_PATHS = ("/healthz", "/readyz", "/login", "/logout", "/static/")
UNSAFE = ("POST", "PUT", "PATCH", "DELETE")
LEGACY_ADMIN = "admin"
"""The principal name of a token from ``MATTEFARM_API_TOKENS`` (each acts as an admin)."""


def farm_is_open(request: Request) -> bool:
    """Whether no token is needed: no user in SQL and no ``MATTEFARM_API_TOKENS``."""
    services = request.app.state.services
    if services.settings.api_tokens:
        return False
    with services.sessions() as session:
        return not users_exist(session)


def principal_of(request: Request, token: str) -> Principal | None:
    services = request.app.state.services
    if any(hmac.compare_digest(token, legacy) for legacy in services.settings.api_tokens):
        return Principal(LEGACY_ADMIN, admin=True)
    with services.sessions() as session:
        return authenticate(session, token)


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    return header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else None


def _wants_page(request: Request) -> bool:
    """A browser asking for a dashboard page (sent to the sign-in), not an API call."""
    path = request.url.path
    return (request.method == "GET" and not path.startswith(("/v1/", "/metrics", "/openapi.json"))
            and "text/html" in request.headers.get("accept", ""))


def resolve(request: Request) -> tuple[Principal | None, bool]:
    """``(principal, by cookie)`` of a request: OPEN on an open farm, None without a valid token."""
    if farm_is_open(request):
        return OPEN, False
    token = _bearer(request)
    if token is not None:
        return principal_of(request, token), False
    cookie = request.cookies.get(COOKIE)
    return (principal_of(request, cookie), True) if cookie else (None, False)


async def authenticate_request(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    """The middleware: resolve the principal into ``request.state.principal`` or refuse."""
    if request.url.path.startswith(OPEN_PATHS):
        return await call_next(request)
    principal, by_cookie = await run_in_threadpool(resolve, request)
    if principal is None:
        if _wants_page(request):
            return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
        return problem(401, "a valid API token is required: send 'Authorization: Bearer <token>' "
                            "(make one with 'mattefarm token create USER')", headers={"WWW-Authenticate": "Bearer"})
    if by_cookie and request.method in UNSAFE and request.headers.get(CSRF_HEADER) != CSRF_VALUE:
        return problem(403, f"a request signed in by the dashboard's cookie must carry '{CSRF_HEADER}: {CSRF_VALUE}'")
    request.state.principal = principal
    return await call_next(request)


def install_auth(app: FastAPI) -> None:
    """Add the middleware to the app."""
    app.middleware("http")(authenticate_request)


def get_principal(request: Request) -> Principal:
    """The request's principal (set by the middleware; OPEN where it did not run)."""
    return getattr(request.state, "principal", OPEN)


PrincipalDep = Annotated[Principal, Depends(get_principal)]
