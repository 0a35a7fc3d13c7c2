"""A job's plan, typed: what ingest decided once (probe, screen, keyer, encoding, plate, chunks, faces).

The plan is stored as JSON in ``Job.plan`` (:meth:`JobPlan.to_dict`) and read back
once per stage (:meth:`JobPlan.of`), so a stage works with typed values, not
with keys of a dict, and no chunk parses the probe again.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from fractions import Fraction
from typing import Any

from jobs.plan import ChunkPlan
from jobs.tables import Job
from models.errors import MediaError
from models.keyer_params import KeyerParams
from models.screen import ScreenAnalysis
from workers.encode import EncodeSettings
from workers.probe import MediaProbe
from workers.specs import MatteSpec, PlateSpec


@dataclass(frozen=True)
class FacePlan:
    """The face replacement half of a job's plan (:mod:`jobs.faces`).

    Attributes:
        source_key: storage key of the source identity's image.
        fingerprint: the source video's fingerprint, the key of its cached face analysis
            (:func:`jobs.faces.source_fingerprint`).
        reference_look: the reference image's face embedding (``--reference-image``), else None.
        solved: whether the whole-shot solve has run (the render pass can start).
        stats: the solve's figures (:attr:`models.face_solve.SolvedFaces.stats`), once solved.
        analysis_reused: the analysis came from the cache. analysis_s, solve_s: seconds each took.
    """

    source_key: str
    fingerprint: str
    reference_look: tuple[float, ...] | None = None
    solved: bool = False
    stats: dict[str, Any] | None = None
    analysis_reused: bool = False
    analysis_s: float | None = None
    solve_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form stored in the plan's ``faces`` entry."""
        data = asdict(self)
        data["reference_look"] = list(self.reference_look) if self.reference_look is not None else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FacePlan:
        """Inverse of :meth:`to_dict` (a key a plan written by an older release lacks takes its default)."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if values.get("reference_look") is not None:
            values["reference_look"] = tuple(values["reference_look"])
        return cls(**values)

    @classmethod
    def of(cls, job: Job) -> FacePlan | None:
        """The job's face plan, or None for a job that replaces no faces (or is not ingested):
        read without parsing the rest of the plan."""
        data = (job.plan or {}).get("faces")
        return cls.from_dict(data) if data else None

    def store(self, job: Job) -> None:
        """Write this as the job's face plan (a new plan object, so the change is saved)."""
        job.plan = {**(job.plan or {}), "faces": self.to_dict()}


@dataclass(frozen=True)
class JobPlan:
    """What ingest decided for a job.

    Attributes:
        probe: the source's streams, timing and frame list.
        screen: the screen analysis (clean plate, screen colour); None for a swap-only job.
        keyer: the keyer controls, the user's overrides applied.
        encode: how every output stream is encoded.
        plate: the background plate copied into the job's storage; None for a layer.
        shift_s: seconds subtracted from every stream so the earliest starts at 0.
        chunks: the chunks' frame and packet ranges, in order.
        faces: the face replacement's plan, None for keying only.
        garbage, core: the garbage and core matte files (stored, checked), None when not given.
    """

    probe: MediaProbe
    screen: ScreenAnalysis | None
    keyer: KeyerParams
    encode: EncodeSettings
    plate: PlateSpec | None
    shift_s: Fraction
    chunks: tuple[ChunkPlan, ...]
    faces: FacePlan | None = None
    garbage: MatteSpec | None = None
    core: MatteSpec | None = None

    @property
    def shift_pts(self) -> int:
        """:attr:`shift_s` in the source's time base units (PTS)."""
        return round(self.shift_s / self.probe.time_base)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form stored in ``Job.plan``."""
        return {
            "probe": self.probe.to_dict(), "screen": self.screen.to_dict() if self.screen else None,
            "keyer": self.keyer.to_dict(), "encode": self.encode.to_dict(),
            "plate": asdict(self.plate) if self.plate else None,
            "shift_s": str(self.shift_s), "chunks": [c.to_dict() for c in self.chunks],
            "faces": self.faces.to_dict() if self.faces else None,
            "garbage": asdict(self.garbage) if self.garbage else None, "core": asdict(self.core) if self.core else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobPlan:
        """Inverse of :meth:`to_dict`."""
        return cls(
            probe=MediaProbe.from_dict(data["probe"]),
            screen=ScreenAnalysis.from_dict(data["screen"]) if data.get("screen") else None,
            keyer=KeyerParams.from_dict(data["keyer"]), encode=EncodeSettings(**data["encode"]),
            plate=PlateSpec(**data["plate"]) if data.get("plate") else None, shift_s=Fraction(data["shift_s"]),
            chunks=tuple(ChunkPlan(**c) for c in data.get("chunks", ())),
            faces=FacePlan.from_dict(data["faces"]) if data.get("faces") else None,
            garbage=MatteSpec(**data["garbage"]) if data.get("garbage") else None,
            core=MatteSpec(**data["core"]) if data.get("core") else None,
        )

    @classmethod
    def of(cls, job: Job) -> JobPlan:
        """The job's stored plan, parsed.

        Raises:
            MediaError: the job was never ingested (no plan yet).
        """
        if job.plan is None:
            raise MediaError(f"job {job.id} has no plan: it was not ingested", "run the job again from the start")
        return cls.from_dict(job.plan)
