"""The stage tasks' error handling, run by Celery itself (eagerly, in this process): a transient error
is retried with backoff until it passes or the retries run out, a permanent one fails the job at once,
and an unexpected exception reaches ``StageTask.on_failure``, which fails the job with its reason.

The stage's work is a test step that fails on cue; everything around it is the real path: the Celery
app and its retry machinery, the lease claim and release in SQL, live events in Redis."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery import Celery, Task
from sqlalchemy.orm import Session

from jobs import tasks
from jobs.celery_app import make_celery
from jobs.settings import Settings
from jobs.tables import Chunk, Job, Stage, State
from models.errors import InputError, TransientError
from tests.api.test_service import REDIS_URL


class FlakyStep:
    """A stage step that raises ``errors`` in turn, then says the job goes no further."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors, self.calls = list(errors), 0

    def __call__(self, ctx: tasks.WorkerContext, session: Session, job: Job, stop: tasks.StopCheck) -> bool:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return False


@pytest.fixture()
def stage(tmp_path: Path) -> Iterator[tuple[Celery, Any, tasks.WorkerContext]]:
    """An eager Celery app with one stage task that runs the current :class:`FlakyStep`; the worker
    context on a fresh SQLite database and the machine's Redis."""
    settings = Settings(home=tmp_path, redis_url=REDIS_URL, lease_s=30)
    celery = make_celery(settings)
    celery.conf.update(task_always_eager=True, task_eager_propagates=False)
    holder: dict[str, FlakyStep] = {}

    @celery.task(name="test.flaky_stage", bind=True, base=tasks.StageTask)
    def flaky_stage(self: Task, job_id: str, run: int | None = None) -> None:
        tasks._run_stage(self, job_id, run, holder["step"])

    ctx = tasks.WorkerContext.open(settings, celery)
    previous, tasks._Process.context = tasks._Process.context, ctx
    flaky_stage.holder = holder  # type: ignore[attr-defined]  # the test sets the step here
    try:
        yield celery, flaky_stage, ctx
    finally:
        tasks._Process.context = previous
        ctx.close()


def _job(ctx: tasks.WorkerContext) -> str:
    with ctx.sessions() as session:
        job = Job(input_uri="in.mp4", output_uri="out.mp4", state=State.RUNNING, stage=Stage.RENDER, plan={"probe": {}})
        job.chunks = [Chunk(index=0, frame_start=0, frame_end=10, preroll_start=0)]
        session.add(job)
        session.commit()
        return job.id


def _state(ctx: tasks.WorkerContext, job_id: str) -> tuple[State, str | None, str | None]:
    with ctx.sessions() as session:
        job = session.get(Job, job_id)
        assert job is not None
        return job.state, job.error, job.lease_owner


def test_a_transient_error_is_retried_until_it_passes(stage) -> None:  # noqa: ANN001
    _, task, ctx = stage
    job_id = _job(ctx)
    step = task.holder["step"] = FlakyStep(TransientError("storage was busy"), TransientError("storage was busy"))
    task.apply(args=(job_id, 0))
    assert step.calls == 3, "two transient failures, then the stage's work ran through"
    state, error, owner = _state(ctx, job_id)
    assert state == State.RUNNING and error is None, "the job goes on"
    assert owner is None, "each attempt released its lease"


def test_retries_run_out_and_the_job_fails_with_the_reason(stage) -> None:  # noqa: ANN001
    _, task, ctx = stage
    job_id = _job(ctx)
    step = task.holder["step"] = FlakyStep(*(TransientError("the store is down", "try later")
                                             for _ in range(tasks.MAX_RETRIES + 3)))
    task.apply(args=(job_id, 0))
    assert step.calls == tasks.MAX_RETRIES + 1, "the first try and MAX_RETRIES retries"
    state, error, owner = _state(ctx, job_id)
    assert state == State.FAILED and error == "the store is down: try later"
    assert owner is None


def test_a_permanent_error_fails_the_job_at_once(stage) -> None:  # noqa: ANN001
    _, task, ctx = stage
    job_id = _job(ctx)
    step = task.holder["step"] = FlakyStep(InputError("in.mp4 has no video stream", "pass a video file"))
    task.apply(args=(job_id, 0))
    assert step.calls == 1
    assert _state(ctx, job_id)[:2] == (State.FAILED, "in.mp4 has no video stream: pass a video file")


def test_an_unexpected_exception_fails_the_job_through_on_failure(stage) -> None:  # noqa: ANN001
    _, task, ctx = stage
    job_id = _job(ctx)
    task.holder["step"] = FlakyStep(ZeroDivisionError("division by zero"))
    result = task.apply(args=(job_id, 0))
    assert isinstance(result.result, ZeroDivisionError), "Celery saw the task fail"
    state, error, owner = _state(ctx, job_id)
    assert state == State.FAILED
    assert error is not None and "stopped on an unexpected error" in error and "ZeroDivisionError" in error
    assert owner is None, "the lease was released on the way out"


def test_a_message_of_an_earlier_run_does_nothing(stage) -> None:  # noqa: ANN001
    _, task, ctx = stage
    job_id = _job(ctx)
    step = task.holder["step"] = FlakyStep(ZeroDivisionError("never reached"))
    task.apply(args=(job_id, 7))
    assert step.calls == 0
    assert _state(ctx, job_id)[0] == State.RUNNING
