"""The one error hierarchy of Mattefarm.

Every layer raises subclasses of :class:`MattefarmError`. An error is either
*permanent* (bad input, a missing file: retrying cannot help, the job fails
with ``str(error)`` as its reason) or *transient* (a worker died, storage
hiccupped: the stage may be retried). ``str(error)`` is one line that names
the problem and what to do about it, fit to show a user as is.
"""

from __future__ import annotations


class MattefarmError(Exception):
    """Base class: a one-line message a user can act on.

    Args:
        problem: what went wrong, e.g. ``"input.mp4 has no video stream"``.
        hint: what to do about it, e.g. ``"pass a video file"``; optional.
    """

    transient: bool = False

    def __init__(self, problem: str, hint: str | None = None) -> None:
        self.problem = problem
        self.hint = hint
        super().__init__(f"{problem}: {hint}" if hint else problem)


class InputError(MattefarmError):
    """The user's input (video, plate, option) cannot be used. Permanent."""


class ModelError(MattefarmError):
    """A model could not be built, loaded or run. Permanent."""


class MediaError(MattefarmError):
    """Decoding, encoding or muxing failed on data that passed the probe. Permanent."""


class VerificationError(MattefarmError):
    """An assembled output failed its frame-count, duration or PTS checks. Permanent."""


class TransientError(MattefarmError):
    """A failure that may pass on retry (a worker process died, storage was busy)."""

    transient = True


class Cancelled(MattefarmError):
    """A person cancelled or paused the job while this work was running. Not a failure."""
