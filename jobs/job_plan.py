"""A job's plan, typed: what ingest decided once (probe, screen, keyer, encoding, plate, chunks, faces).

The plan is stored as JSON in ``Job.plan`` (:meth:`JobPlan.to_dict`) and read back
once per stage (:meth:`JobPlan.of`), so a stage works with typed values, not
with keys of a dict, and no chunk parses the probe again.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any

from jobs.plan import ChunkPlan
from jobs.tables import Job
from models.errors import MediaError
from models.keyer_params import KeyerParams
from models.screen import ScreenAnalysis
from workers.encode import EncodeSettings
from workers.probe import MediaProbe
from workers.specs import PlateSpec


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
        faces: the face replacement's state (source key, fingerprint, solve stats; a JSON
            object :mod:`jobs.faces` keeps), None for keying only.
    """

    probe: MediaProbe
    screen: ScreenAnalysis | None
    keyer: KeyerParams
    encode: EncodeSettings
    plate: PlateSpec | None
    shift_s: Fraction
    chunks: tuple[ChunkPlan, ...]
    faces: dict[str, Any] | None = None

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
            "shift_s": str(self.shift_s), "chunks": [c.to_dict() for c in self.chunks], "faces": self.faces,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobPlan:
        """Inverse of :meth:`to_dict`."""
        return cls(
            probe=MediaProbe.from_dict(data["probe"]),
            screen=ScreenAnalysis.from_dict(data["screen"]) if data.get("screen") else None,
            keyer=KeyerParams.from_dict(data["keyer"]), encode=EncodeSettings(**data["encode"]),
            plate=PlateSpec(**data["plate"]) if data.get("plate") else None, shift_s=Fraction(data["shift_s"]),
            chunks=tuple(ChunkPlan(**c) for c in data.get("chunks", ())), faces=data.get("faces"),
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
