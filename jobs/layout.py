"""Where a job's files live in storage: every key named once.

Keys are relative to the storage root (:class:`workers.storage.Storage`), ``/``
separated. A job owns four prefixes: ``uploads/<id>`` (what a user sent),
``jobs/<id>`` (intermediates: the plate, the split, rendered chunks, face data;
removed when the job ends), ``outputs/<id>`` (what the service renders and its
contact sheet) and ``logs/<id>`` (chunk logs, kept). A batch's shared stills
live under ``uploads/<batch id>``. The face analysis cache is shared by every
job on the same source (:func:`face_analysis_cache`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class JobLayout:
    """The storage keys of one job (or, for uploads, of one batch).

    Args:
        job_id: the job's (or batch's) id.
    """

    job_id: str

    @property
    def uploads(self) -> str:
        """Prefix of what the user uploaded for this job."""
        return f"uploads/{self.job_id}"

    def upload(self, name: str, part: str = "") -> str:
        """An uploaded file: the footage (``part`` empty) or a still of ``part`` (``plate``, ``face``...)."""
        return f"{self.uploads}/{part}/{name}" if part else f"{self.uploads}/{name}"

    @property
    def intermediates(self) -> str:
        """Prefix of the job's intermediate files, removed when it ends."""
        return f"jobs/{self.job_id}"

    def plate(self, suffix: str) -> str:
        """The background plate copied into the job (``suffix`` with its dot, lower case)."""
        return f"{self.intermediates}/plate{suffix}"

    def matte_file(self, what: str, suffix: str) -> str:
        """The job's garbage or core matte file (``what``), copied here at ingest."""
        return f"{self.intermediates}/{what}_matte{suffix}"

    def face_source(self, suffix: str) -> str:
        """The face replacement's source identity image."""
        return f"{self.intermediates}/face_source{suffix}"

    @property
    def split(self) -> str:
        """Prefix of the split chunk files (stream copies of whole GOPs)."""
        return f"{self.intermediates}/split"

    def rendered(self, index: int, suffix: str) -> str:
        """A rendered chunk (``.mov``, or ``.mkv`` for FFV1)."""
        return f"{self.intermediates}/render/{index:05d}{suffix}"

    def matte(self, index: int, suffix: str) -> str:
        """A chunk's matte pass."""
        return f"{self.intermediates}/matte/{index:05d}{suffix}"

    def rendered_frames(self, index: int) -> str:
        """The folder of a chunk's rendered frame files (an image sequence output): one file per
        frame, named by :func:`frame_file`."""
        return f"{self.intermediates}/render/{index:05d}/"

    def matte_frames(self, index: int) -> str:
        """The folder of a chunk's matte frame files (an image sequence matte pass)."""
        return f"{self.intermediates}/matte/{index:05d}/"

    @property
    def face_analysis_parts(self) -> str:
        """Prefix of the per-chunk face analysis tables."""
        return f"{self.intermediates}/faces/analysis"

    def face_analysis(self, index: int) -> str:
        """One chunk's face analysis table (npz)."""
        return f"{self.face_analysis_parts}/{index:05d}.npz"

    def faces_solved(self, index: int) -> str:
        """One chunk's solved faces (npz, pre-roll included)."""
        return f"{self.intermediates}/faces/solved/{index:05d}.npz"

    @property
    def outputs(self) -> str:
        """Prefix of what the service renders for this job."""
        return f"outputs/{self.job_id}"

    def output(self, stem: str, suffix: str, matte: bool = False) -> str:
        """The service's output movie of shot ``stem`` (or its matte pass)."""
        return f"{self.outputs}/{stem}_{'matte' if matte else 'keyed'}{suffix}"

    @property
    def first_look(self) -> str:
        """The first look: a few frames keyed before the chunks (``preview_first``)."""
        return f"{self.outputs}/first_look.jpg"

    @property
    def contact_sheet(self) -> str:
        """The finished job's contact sheet (source | matte | result), made once."""
        return f"{self.outputs}/preview.jpg"

    @property
    def logs(self) -> str:
        """Prefix of the job's chunk logs."""
        return f"logs/{self.job_id}"

    def chunk_log(self, index: int) -> str:
        """One chunk's log."""
        return f"{self.logs}/chunk_{index:05d}.log"

    @property
    def everything(self) -> tuple[str, ...]:
        """Every prefix the job owns (what deleting the job removes)."""
        return (self.uploads, self.outputs, self.intermediates, self.logs)


def face_analysis_cache(fingerprint: str) -> str:
    """The face analysis of a source, kept across jobs (keyed by the source's fingerprint)."""
    return f"analysis/faces/{fingerprint}.npz"
