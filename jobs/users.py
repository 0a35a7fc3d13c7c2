"""Users and API tokens: who may see and control which jobs.

A token is ``mf_<id>_<secret>``: ``id`` (8 hex digits) names it in listings and
revocations, ``secret`` is 32 random bytes (``secrets.token_urlsafe``). Only the
SHA-256 digest of the whole token is stored, so a copy of the database holds no
usable token (a slow password hash is not needed for 256 random bits).

With no user at all the farm is *open* (the single-machine default): every
request acts as :data:`OPEN`, an admin. Once a user exists, every request needs
a token; a user who is not an admin sees and controls only their own jobs.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from jobs.tables import ApiToken, Batch, Job, User, as_utc, utcnow
from jobs.webhooks import check_url
from models.errors import InputError

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
"""A user name: letters, digits, ``.``, ``_``, ``@`` and ``-``, at most 64 characters."""
TOKEN = re.compile(r"mf_([0-9a-f]{8})_[A-Za-z0-9_-]{43}")
USED_EVERY = timedelta(minutes=1)
"""``last_used_at`` is written at most this often per token (not on every request)."""


@dataclass(frozen=True)
class Principal:
    """Who a request acts for. ``name`` empty: the open farm (no users)."""

    name: str
    admin: bool

    def may_see(self, record: Job | Batch) -> bool:
        """Whether this principal may see and control a job or batch (admins: all; others: their own)."""
        return self.admin or record.owner == self.name


OPEN = Principal("", admin=True)


def digest(token: str) -> str:
    """The stored form of a token: SHA-256, hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def users_exist(session: Session) -> bool:
    """Whether any user exists (the farm then needs tokens)."""
    return session.scalar(select(User.name).limit(1)) is not None


def create_token(session: Session, name: str, admin: bool = False, webhook_url: str | None = None,
                 ) -> tuple[ApiToken, str]:
    """A new token for user ``name``, made if missing (``admin`` also makes an existing user
    an admin; ``webhook_url`` becomes the user's webhook); commits. Returns the row and the
    token, which is shown only now.

    Raises:
        InputError: the name is not a valid user name, or the webhook not an http(s) URL.
    """
    if not NAME.fullmatch(name):
        raise InputError(f"{name!r} is not a user name", "use letters, digits, '.', '_', '@' and '-' (at most 64)")
    if webhook_url is not None:
        try:
            check_url(webhook_url)
        except ValueError as exc:
            raise InputError(f"the webhook {webhook_url!r} {exc}") from None
    user = session.get(User, name)
    if user is None:
        user = User(name=name, admin=admin)
        session.add(user)
    elif admin:
        user.admin = True
    if webhook_url is not None:
        user.webhook_url = webhook_url
    token_id = secrets.token_hex(4)
    while session.get(ApiToken, token_id) is not None:
        token_id = secrets.token_hex(4)
    token = f"mf_{token_id}_{secrets.token_urlsafe(32)}"
    row = ApiToken(id=token_id, user=user, digest=digest(token))
    session.add(row)
    session.commit()
    return row, token


def authenticate(session: Session, token: str) -> Principal | None:
    """The principal a token acts for; None for an unknown, malformed or revoked token."""
    if not TOKEN.fullmatch(token):
        return None
    row = session.scalar(select(ApiToken).where(ApiToken.digest == digest(token)))
    if row is None or row.revoked_at is not None:
        return None
    now = utcnow()
    used = as_utc(row.last_used_at)
    if used is None or now - used > USED_EVERY:
        row.last_used_at = now
        session.commit()
    return Principal(row.user.name, row.user.admin)


def revoke_token(session: Session, token_id: str) -> ApiToken:
    """Revoke a token by its id (or the whole token); commits.

    Raises:
        InputError: no such token.
    """
    match = TOKEN.fullmatch(token_id)
    row = session.get(ApiToken, match.group(1) if match else token_id)
    if row is None:
        raise InputError(f"there is no token {token_id}", "see 'mattefarm token list'")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.commit()
    return row


def list_tokens(session: Session) -> list[ApiToken]:
    """Every token, by user then creation time."""
    return list(session.scalars(select(ApiToken).order_by(ApiToken.user_name, ApiToken.created_at)))
