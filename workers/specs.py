"""Frozen specs handed between processes: what a chunk render needs and what it returns.

Specs carry storage keys and frame ranges, never frames (FIELD-NOTES: pass
specs, not 6 MB frames, between Ray processes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from models.choices import MatteSource, ProviderChoice
from models.keyer_params import KeyerParams
from models.screen import ScreenAnalysis
from workers.encode import EncodeSettings
from workers.probe import SequenceInfo

PlateKind = Literal["image", "video"]
MatteKind = Literal["image", "video", "sequence", "roto"]
"""A garbage or core matte file: a still, a movie, image files (``matte.%04d.png``) or roto shapes (``.json``)."""


@dataclass(frozen=True)
class PlateSpec:
    """The background plate.

    Attributes:
        key: storage key of the plate file. kind: ``image`` or ``video``.
        fit: ``cover`` (scale to fill the frame, aspect kept, centre-cropped).
    """

    key: str
    kind: PlateKind
    fit: str = "cover"


@dataclass(frozen=True)
class MatteSpec:
    """A garbage or core matte file (:mod:`workers.matte_source`).

    Attributes:
        kind: what the file is (:data:`MatteKind`).
        key: storage key of the file, copied into the job's storage; for a ``sequence``, its
            ``printf`` pattern, read in place as an image sequence source is.
    """

    kind: MatteKind
    key: str


@dataclass(frozen=True)
class FaceSpec:
    """The face replacement half of a chunk's work.

    Attributes:
        source_key: storage key of the source identity's image.
        source_face: which face of that image (0 = largest); None: it must have exactly one.
        swapper: ``builtin`` or a neural swapper's registry name (``inswapper_128``).
        key: key the screen too (False: ``--no-key``, swap only).
        analysis_key: where the analysis pass writes this chunk's
            :class:`models.face_analysis.FaceTable` (npz).
        solved_key: where the render pass reads this chunk's
            :class:`models.face_solve.SolvedFaces` (npz, pre-roll frames included); None before the solve.
    """

    source_key: str
    source_face: int | None = None
    swapper: str = "builtin"
    key: bool = True
    analysis_key: str = ""
    solved_key: str | None = None


@dataclass(frozen=True)
class ChunkSpec:
    """One chunk's render job.

    Frames are numbered in the source's presentation order. The chunk renders
    frames ``[frame_start, frame_end)``; it decodes from ``preroll_start`` to warm
    the keyer's temporal state and discards those outputs.

    Attributes:
        job_id, index: the job and the chunk's number (0-based).
        storage_root: root of the job's storage (local dir or fsspec URI).
        input_key: the split chunk file (stream copy of whole GOPs).
        output_key, matte_key: where the rendered image and matte chunk files go
            (``matte_key`` None: no matte pass).
        frame_start, frame_end, preroll_start: frame indices, see above.
        file_pts: PTS, in the chunk file's own time base, of frames
            ``preroll_start .. frame_end - 1`` (how decoded frames are identified).
        times_s: presentation time of the same frames from the shot's start, seconds
            (for picking video-plate frames).
        output_pts: output PTS of frames ``frame_start .. frame_end - 1``, in
            ``encode.time_base`` units.
        encode: output encoding (size, codec, timing, colour tags, working format).
        keyer: the keyer's controls. screen: the shot's screen analysis (None: nothing is keyed).
        plate: the background plate (None for a layer).
        rotation: display rotation of the source, degrees (plates are fitted upright).
        batch_frames: frames per model call. providers: execution provider choice.
        faces: face replacement (None: keying only).
        sequence: the source when it is an image sequence (its files are read directly; no
            ``input_key``); None for a movie.
        garbage, core: the garbage matte (alpha forced to 0 outside it) and the core matte
            (alpha forced to 1 inside it), or None. garbage_auto: cut what is neither screen
            nor near a person (:mod:`models.auto_garbage`; with ``garbage`` too, both cut).
        matte: where the matte comes from: ``screen`` (the keyer, from ``screen``), or a matter
            for a shot without a screen (:mod:`workers.matte_models`; ``screen`` is then None).
        matte_model: the ONNX file of a neural matter (None: the registry's, from the models directory).
    """

    job_id: str
    index: int
    storage_root: str
    input_key: str
    output_key: str
    matte_key: str | None
    frame_start: int
    frame_end: int
    preroll_start: int
    file_pts: tuple[int, ...] = field(repr=False)
    times_s: tuple[float, ...] = field(repr=False)
    output_pts: tuple[int, ...] = field(repr=False)
    encode: EncodeSettings = field(repr=False)
    keyer: KeyerParams = field(repr=False, default_factory=KeyerParams)
    screen: ScreenAnalysis | None = field(repr=False, default=None)
    plate: PlateSpec | None = None
    rotation: int = 0
    batch_frames: int = 8
    providers: ProviderChoice = "auto"
    faces: FaceSpec | None = None
    sequence: SequenceInfo | None = None
    garbage: MatteSpec | None = None
    core: MatteSpec | None = None
    garbage_auto: bool = False
    matte: MatteSource = "screen"
    matte_model: str | None = None

    @property
    def cuts_garbage(self) -> bool:
        """The keyer takes a garbage matte: a matte file, ``--garbage auto``, or both."""
        return self.garbage is not None or self.garbage_auto

    @property
    def frame_count(self) -> int:
        """Frames this chunk delivers (pre-roll excluded)."""
        return self.frame_end - self.frame_start


@dataclass(frozen=True)
class RenderResult:
    """What a finished chunk render reports.

    Attributes:
        job_id, index: which chunk. frames: frames delivered. preroll_frames: frames
        decoded and keyed only to warm the state. seconds: wall time of the render.
        provider: onnxruntime execution provider that ran (``CPU``, ``CUDA``).
        worker: ``host:pid`` of the actor.
    """

    job_id: str
    index: int
    frames: int
    preroll_frames: int
    seconds: float
    provider: str
    worker: str
