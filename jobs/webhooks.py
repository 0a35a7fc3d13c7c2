"""Webhooks on job end: a JSON payload per end of a job, HMAC-signed, retried until delivered.

Kept as an outbox in SQL (:class:`jobs.tables.Delivery`): every reaper sweep (each worker
and the API) first records a delivery for each job that ended in its current run with a
webhook URL, then sends the deliveries that are due. A delivery is claimed by a
compare-and-set on its ``next_at`` (one sender at a time), sent with ``httpx``, and either
marked delivered (any 2xx) or tried again after an exponential backoff (2, 4, 8 ... up to
:data:`MAX_BACKOFF_S` seconds), however long the receiver is down.

The body is signed as GitHub signs its webhooks: ``X-Mattefarm-Signature: sha256=<hex>``,
the HMAC-SHA256 of the raw body with ``MATTEFARM_WEBHOOK_SECRET`` (no header without a
secret). ``X-Mattefarm-Event`` is ``job.ended`` and ``X-Mattefarm-Delivery`` the delivery's
id, the same on every retry, so a receiver can drop a repeat.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from datetime import timedelta
from pathlib import PurePath
from typing import Any

import httpx
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from jobs.tables import ENDED, Delivery, Job, State, as_utc, utcnow

log = logging.getLogger(__name__)
MAX_BACKOFF_S = 600.0
SEND_TIMEOUT_S = 10.0
URL_LIMIT = 2048


def signature(secret: str, body: bytes) -> str:
    """The ``X-Mattefarm-Signature`` value of a body: ``sha256=`` and the HMAC-SHA256 in hex."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def check_url(url: str) -> str:
    """A webhook URL as given, if it is ``http(s)://`` and at most :data:`URL_LIMIT` characters.

    Raises:
        ValueError: anything else (shown as the field's problem).
    """
    if not url.startswith(("http://", "https://")) or len(url) > URL_LIMIT or any(c in url for c in "\x00\r\n "):
        raise ValueError(f"is not an http:// or https:// URL of at most {URL_LIMIT} characters")
    return url


def payload(job: Job) -> dict[str, Any]:
    """What a receiver is told of a job's end: state, outputs (API paths), timings, counts."""
    started, finished, created = (as_utc(t) for t in (job.started_at, job.finished_at, job.created_at))
    base = f"/v1/jobs/{job.id}"
    outputs = {"output": f"{base}/output"} if job.state == State.DONE else {}
    if job.state == State.DONE and (job.options or {}).get("matte_out"):
        outputs["matte"] = f"{base}/matte"
    return {
        "event": "job.ended", "job_id": job.id, "run": job.run, "state": job.state.value, "error": job.error,
        "shot": PurePath(job.input_uri).name, "owner": job.owner, "batch_id": job.batch_id,
        "frames_done": job.frames_done, "frames_total": job.frames_total, "outputs": outputs,
        "timings": {"created_at": created.isoformat() if created else None,
                    "started_at": started.isoformat() if started else None,
                    "finished_at": finished.isoformat() if finished else None,
                    "seconds": (finished - started).total_seconds() if started and finished else None},
    }


def record_deliveries(session: Session) -> int:
    """Add a delivery for every job that ended in its current run with a webhook URL and has
    none yet; commits. Returns how many were added."""
    ended = session.scalars(select(Job).where(Job.state.in_(ENDED), Job.webhook_url.is_not(None),
                                              ~select(Delivery.id).where(Delivery.job_id == Job.id,
                                                                         Delivery.run == Job.run).exists())).all()
    added = 0
    for job in ended:
        session.add(Delivery(job_id=job.id, run=job.run, url=job.webhook_url, payload=payload(job), attempts=0,
                             next_at=utcnow()))
        try:
            session.commit()
            added += 1
        except IntegrityError:  # another sweep recorded it first
            session.rollback()
    return added


def _claim(session: Session, delivery: Delivery) -> bool:
    """Take a due delivery for this sender (its ``next_at`` moves past the send's timeout)."""
    won = session.execute(
        update(Delivery).where(Delivery.id == delivery.id, Delivery.next_at == delivery.next_at,
                               Delivery.delivered_at.is_(None))
        .values(next_at=utcnow() + timedelta(seconds=SEND_TIMEOUT_S * 3)).execution_options(synchronize_session=False)
    ).rowcount == 1  # type: ignore[attr-defined]
    session.commit()
    return won


def send(delivery: Delivery, secret: str, client: httpx.Client) -> str | None:
    """POST one delivery; None when the receiver answered 2xx, else what went wrong."""
    body = json.dumps(delivery.payload, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", "X-Mattefarm-Event": "job.ended",
               "X-Mattefarm-Delivery": str(delivery.id), "User-Agent": "mattefarm-webhook"}
    if secret:
        headers["X-Mattefarm-Signature"] = signature(secret, body)
    try:
        response = client.post(delivery.url, content=body, headers=headers, timeout=SEND_TIMEOUT_S)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None if 200 <= response.status_code < 300 else f"the receiver answered {response.status_code}"


def deliver_due(session: Session, secret: str, client: httpx.Client | None = None) -> int:
    """Send every due delivery this sender can claim; commits each outcome. Returns how many
    were delivered."""
    due = session.scalars(select(Delivery).where(Delivery.delivered_at.is_(None), Delivery.next_at <= utcnow())
                          .order_by(Delivery.next_at)).all()
    delivered = 0
    with client or httpx.Client() as http:
        for delivery in due:
            if not _claim(session, delivery):
                continue
            session.refresh(delivery)
            problem = send(delivery, secret, http)
            delivery.attempts += 1
            if problem is None:
                delivery.delivered_at, delivery.last_error = utcnow(), None
                delivered += 1
            else:
                backoff = min(2.0 ** delivery.attempts, MAX_BACKOFF_S)
                delivery.next_at, delivery.last_error = utcnow() + timedelta(seconds=backoff), problem
                log.warning("webhook of job %s to %s: %s (try %d again in %.0f s)", delivery.job_id, delivery.url,
                            problem, delivery.attempts + 1, backoff)
            session.commit()
    return delivered
