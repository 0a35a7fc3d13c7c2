"""Face work on a render actor: the analysis pass over a chunk, the source identity and the swapper.

Face models are loaded through the registry (:func:`workers.model_files.fetch_model`:
verified by SHA-256, downloaded if missing). Analysis results and solved
landmarks travel through storage as ``.npz`` files, never through Ray.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable

import numpy as np

from models.choices import SWAPPERS, ProviderChoice
from models.choices import Swapper as SwapperName
from models.errors import InputError
from models.face_analysis import FaceAnalyser, FaceTable, FoundFace, found_in_coded
from models.face_detect import FaceDetector
from models.face_landmarks import FaceMesh
from models.face_replace import FramePlanes, Swapper, hold_matte, replace_faces
from models.face_solve import SolvedFaces
from models.face_swap import BuiltinSwapper, SourceFace
from models.yuv import YuvMatrix, planes_to_rgb
from workers.model_files import fetch_model
from workers.plates import read_image
from workers.storage import Storage

SWAPPER_MODELS: dict[SwapperName, tuple[str, ...]] = {"builtin": (), "inswapper_128": ("inswapper_128", "arcface_w600k_r50")}
"""The registry models each swapper needs (one entry per :data:`models.choices.SWAPPERS`)."""


def require_swapper_models(name: str) -> None:
    """Make sure the swapper's model files are here (downloaded and verified if missing).

    Raises:
        InputError: unknown swapper. ModelError: a file is missing (offline) or corrupted.
    """
    if name not in SWAPPER_MODELS:
        raise InputError(f"there is no swapper named {name!r}", f"use one of {', '.join(SWAPPERS)}")
    for model in SWAPPER_MODELS[name]:
        fetch_model(model)


def load_analyser(providers: ProviderChoice = "auto") -> FaceAnalyser:
    """YuNet + FaceMesh-468 from the models directory.

    Raises:
        ModelError: a model file is missing (offline) or fails its hash check.
    """
    return FaceAnalyser(FaceDetector(fetch_model("yunet"), providers), FaceMesh(fetch_model("facemesh_468"), providers))


def read_source_image(path: str) -> np.ndarray:
    """The source identity's image as ``(H, W, 3)`` uint8 RGB.

    Raises:
        InputError: missing or not an image.
    """
    return read_image(path, "the source face image", "pass a JPEG or PNG photo")


def source_face(rgb: np.ndarray, analyser: FaceAnalyser, index: int | None, name: str = "the source image") -> SourceFace:
    """The identity to paste: the one face of ``rgb``, or face ``index`` (0 = largest).

    Raises:
        InputError: no face, several faces and no index, or an index past the faces found.
    """
    found = analyser.analyse(rgb)
    if not found:
        raise InputError(f"no face was found in {name}", "use a photo where one face is clearly visible and upright")
    if index is None and len(found) > 1:
        raise InputError(f"{name} has {len(found)} faces", "pass --source-face-index N (0 = the largest) to pick one")
    index = index or 0
    if index >= len(found):
        raise InputError(f"{name} has {len(found)} face(s), so there is no face {index}",
                         f"pass --source-face-index between 0 and {len(found) - 1}")
    return SourceFace.of(rgb, found[index].landmarks)


def reference_look(path: str, analyser: FaceAnalyser, index: int) -> np.ndarray:
    """The appearance (:func:`models.face_identity.appearance`) of face ``index`` (0 = largest) of a reference image.

    Returns:
        ``(APPEARANCE_SIZE,)`` float32.

    Raises:
        InputError: the image is unreadable, has no face, or fewer faces than ``index + 1``.
    """
    found = analyser.analyse(read_image(path, "the reference image", "pass a JPEG or PNG still of the person"))
    if len(found) <= index:
        raise InputError(f"the reference image {path} has {len(found)} face(s), so there is no face {index}",
                         "use a still where the person's face is visible, or pick another --reference-face")
    return found[index].appearance


def make_swapper(name: str, source: SourceFace, providers: ProviderChoice = "auto") -> Swapper:
    """The swapper called ``name`` (one of :data:`SWAPPERS`) for one source identity.

    Raises:
        InputError: unknown swapper. ModelError: its model files are missing or corrupted.
    """
    require_swapper_models(name)
    if name == "builtin":
        return BuiltinSwapper(source)
    from workers.neural_swap import load_inswapper

    return load_inswapper(source, providers)


def save_arrays(storage: Storage, key: str, arrays: dict[str, np.ndarray]) -> None:
    """Write arrays as a compressed ``.npz`` under ``key`` (atomically)."""
    with storage.writer(key) as path, open(path, "wb") as out:
        np.savez_compressed(out, **arrays)  # type: ignore[arg-type]  # numpy's stub matches **arrays against allow_pickle (bool); the keys are array names


def load_arrays(storage: Storage, key: str) -> dict[str, np.ndarray]:
    """Read an ``.npz`` written by :func:`save_arrays`."""
    with storage.local_copy(key) as path, open(path, "rb") as f:
        data = np.load(io.BytesIO(f.read()))
        return {name: data[name] for name in data.files}


def analyse_frames(
    frames: Iterable[tuple[int, np.ndarray, np.ndarray]], first: int, analyser: FaceAnalyser, matrix: YuvMatrix,
    progress: Callable[[int], None] | None = None, rotation: int = 0,
) -> FaceTable:
    """Faces of every decoded frame from shot frame ``first`` on.

    Args:
        frames: ``(frame index, Y (H, W) uint8, CbCr (2, Hc, Wc) uint8)`` in order.
        matrix: the planes' Y'CbCr matrix. progress: called with frames analysed so far.
        rotation: the source's display rotation, degrees counter-clockwise: frames are
            turned upright for the detector (it finds upright faces) and the faces
            mapped back to the coded frame, where the render pass works.
    """
    rows: list[tuple[int, FoundFace]] = []
    done, turns = 0, (rotation // 90) % 4
    for index, luma, chroma in frames:
        if index < first:
            continue
        rgb = np.ascontiguousarray(np.rot90(planes_to_rgb(luma, chroma, matrix), turns))
        rows.extend((index, found_in_coded(found, turns, luma.shape[1], luma.shape[0]))
                    for found in analyser.analyse(rgb))
        done += 1
        if progress is not None:
            progress(done)
    return FaceTable.of_rows(rows)


class FaceWork:
    """A chunk's face replacement: the swapper and the solved targets of its frames.

    Args:
        swapper: makes the new faces. solved: the targets of the chunk's frames (pre-roll included).
        matrix: the planes' Y'CbCr matrix and range.
    """

    def __init__(self, swapper: Swapper, solved: SolvedFaces, matrix: YuvMatrix) -> None:
        self.swapper, self.solved, self.matrix = swapper, solved, matrix

    def hold(self, indices: list[int], size: tuple[int, int], scale: float) -> np.ndarray:
        """``(N, Hc, Wc)`` float32 holdout mattes of frames ``indices`` at ``size`` = ``(Wc, Hc)``."""
        return np.stack([hold_matte(self.solved.in_frame(i), size, scale) for i in indices])

    def apply(self, indices: list[int], luma: np.ndarray, chroma: np.ndarray, alpha: np.ndarray | None,
              backgrounds: list[np.ndarray | None]) -> None:
        """Swap the targets of each frame into its planes, in place.

        Args:
            indices: shot frame index of each frame. luma: ``(N, H, W)`` uint8.
            chroma: ``(N, 2, Hc, Wc)`` uint8. alpha: ``(N, H, W)`` uint8 key matte, or None (no key).
            backgrounds: per frame the ``(H, W, 3)`` uint8 RGB plate it was composited
                over, or None (no key, or a straight-alpha layer).
        """
        for j, index in enumerate(indices):
            faces = self.solved.in_frame(index)
            if faces:
                planes = FramePlanes(luma[j], chroma[j], None if alpha is None else alpha[j], backgrounds[j])
                replace_faces(planes, faces, self.swapper, self.matrix)
