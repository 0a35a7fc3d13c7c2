"""What a person can do to a job: cancel, pause, resume, retry, reprioritise.

Each changes SQL only; the caller commits, publishes the event and, for
resume and retry, enqueues the job again (its stages skip finished work).
Cancel, pause, resume and retry each start a new run (``Job.run``): a stage
task enqueued under an earlier run stops at its next check, even when the job
was cancelled and retried before that task ever saw the cancellation.
"""

from __future__ import annotations

from jobs.leases import void_lease
from jobs.tables import Job, State, set_state
from models.errors import ConflictError


def _require(job: Job, allowed: tuple[State, ...], verb: str) -> None:
    if job.state not in allowed:
        raise ConflictError(f"job {job.id} is {job.state.value}; only a "
                            f"{' or '.join(s.value for s in allowed)} job can be {verb}")


def _new_run(job: Job) -> None:
    """Start the job's next run: stage tasks of the earlier one stop, its lease is void."""
    job.run += 1
    void_lease(job)


def cancel_job(job: Job) -> None:
    """Stop the job for good: no more chunks are dispatched, running ones are cancelled.

    Raises:
        ConflictError: the job has already ended.
    """
    _require(job, (State.PENDING, State.RUNNING, State.PAUSED), "cancelled")
    set_state(job, State.CANCELLED, "cancelled by request")
    _new_run(job)


def pause_job(job: Job) -> None:
    """Hold the job: running chunks are cancelled and go back to pending; finished ones stay.

    Raises:
        ConflictError: the job is not pending or running.
    """
    _require(job, (State.PENDING, State.RUNNING), "paused")
    set_state(job, State.PAUSED)
    _new_run(job)


def resume_job(job: Job) -> None:
    """Put a paused job back in the queue (enqueue it after the commit); its failed chunks go back to pending.

    Raises:
        ConflictError: the job is not paused.
    """
    _require(job, (State.PAUSED,), "resumed")
    for chunk in job.chunks:  # a chunk that failed as the pause landed is tried again
        if chunk.state == State.FAILED:
            chunk.state, chunk.error, chunk.frames_done = State.PENDING, None, 0
    set_state(job, State.PENDING)
    _new_run(job)


RETRY_CANNOT_FIX = frozenset({"InputError"})
"""Kinds of error (:attr:`jobs.tables.Job.error_kind`, a :mod:`models.errors` class name) a retry
cannot fix: the job's input itself is unusable (a plate that is a text file, a source with no
video), so the same input fails the same way again. Transient errors, dead chunks, cancellation
and unexpected errors may pass on a retry."""


def retry_helps(job: Job) -> bool:
    """Whether retrying ``job`` can help: it failed or was cancelled, and not on an error a
    retry cannot fix (:data:`RETRY_CANNOT_FIX`)."""
    if job.state == State.CANCELLED:
        return True
    return job.state == State.FAILED and job.error_kind not in RETRY_CANNOT_FIX


def retry_refusal(job: Job) -> str | None:
    """Why ``job`` cannot be retried, as one line for the user; None when it can."""
    if retry_helps(job):
        return None
    if job.state == State.FAILED:
        return (f"job {job.id} failed on its input ({job.error}); a retry would fail the same way: "
                "fix the input and submit it again")
    return f"job {job.id} is {job.state.value}; only a failed or cancelled job can be retried"


def retry_job(job: Job) -> None:
    """Run a failed or cancelled job again (enqueue it after the commit).

    A failed job keeps its plan and its finished chunks: only the chunks not
    done are rendered again. A cancelled job's intermediate files were removed,
    so it starts again from ingest.

    Raises:
        ConflictError: the job is not failed or cancelled, or it failed on its input
            (:func:`retry_helps`).
    """
    refusal = retry_refusal(job)
    if refusal is not None:
        raise ConflictError(refusal)
    if job.state == State.CANCELLED:
        job.plan, job.chunks, job.frames_done = None, [], 0
    for chunk in job.chunks:  # dead chunks are revived with fresh attempts
        if chunk.state != State.DONE:
            chunk.state, chunk.error, chunk.frames_done = State.PENDING, None, 0
        if chunk.state == State.PENDING:
            chunk.attempts = 0
    set_state(job, State.PENDING)
    job.error, job.error_kind, job.blocklist = None, None, {}
    _new_run(job)


def set_priority(job: Job, priority: int) -> None:
    """Change the priority (0-100, higher first) of the job's next stages.

    Raises:
        ValueError: the priority is outside 0-100.
    """
    if not 0 <= priority <= 100:
        raise ValueError(f"priority {priority} is outside 0-100")
    job.priority = priority
