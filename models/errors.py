"""The one error hierarchy of Mattefarm.

Every layer raises subclasses of :class:`MattefarmError`. An error is either
*permanent* (bad input, a missing file: retrying cannot help, the job fails
with ``str(error)`` as its reason) or *transient* (a worker died, storage
hiccupped: the stage may be retried). ``str(error)`` is one line that names
the problem and what to do about it, fit to show a user as is.

Each class carries what it means to the API (``http_status``) and to the CLI
(``exit_code``), so both map errors in one place: 422 and exit 2 for input,
409 for a control that does not fit the job's state, 503 and exit 75
(``EX_TEMPFAIL``, sysexits.h) for a transient outage, 500 and exit 1 otherwise.
"""

from __future__ import annotations


class MattefarmError(Exception):
    """Base class: a one-line message a user can act on.

    Args:
        problem: what went wrong, e.g. ``"input.mp4 has no video stream"``.
        hint: what to do about it, e.g. ``"pass a video file"``; optional.
        detail: for the logs, never shown as the message: the traceback of the unexpected
            error this one stands for (a bug inside a render actor), or None.
    """

    transient: bool = False
    http_status: int = 500
    exit_code: int = 1

    def __init__(self, problem: str, hint: str | None = None, detail: str | None = None) -> None:
        self.problem = problem
        self.hint = hint
        self.detail = detail
        super().__init__(f"{problem}: {hint}" if hint else problem)


class InputError(MattefarmError, ValueError):
    """The user's input (video, plate, option) cannot be used. Permanent.

    Also a ``ValueError``, so a check raised inside a Pydantic validator becomes
    that field's validation error (Pydantic turns ``ValueError`` into one); code
    never catches ``ValueError`` to mean "user error".
    """

    http_status = 422
    exit_code = 2


class ConflictError(MattefarmError):
    """A control that does not fit the job's state (cancel a finished job, resume a running one)."""

    http_status = 409
    exit_code = 2


class ModelError(MattefarmError):
    """A model could not be built, loaded or run. Permanent."""


class MediaError(MattefarmError):
    """Decoding, encoding or muxing failed on data that passed the probe. Permanent."""


class VerificationError(MattefarmError):
    """An assembled output failed its frame-count, duration or PTS checks. Permanent."""


class TransientError(MattefarmError):
    """A failure that may pass on retry (a worker process died, storage was busy)."""

    transient = True
    http_status = 503
    exit_code = 75


class ChunkDead(MattefarmError):
    """A chunk failed ``max_attempts`` times on transient errors (OpenCue's DEAD state).
    Permanent: the job fails; a retry revives the chunk."""


class Cancelled(MattefarmError):
    """A person cancelled or paused the job while this work was running. Not a failure."""


def error_kind(error: MattefarmError) -> str:
    """The name of the class of this module that ``error`` is (``InputError``, ``MediaError``...),
    whatever subclass or wrapper it arrives as (Ray raises a task's error as a subclass of its type)."""
    for cls in type(error).__mro__:
        if cls.__module__ == __name__:
            return cls.__name__
    return MattefarmError.__name__
