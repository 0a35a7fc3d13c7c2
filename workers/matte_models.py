"""Loading the matter of a shot without a screen (``--matte portrait|modnet|birefnet|rvm``) from
the models directory, or from the file a studio names (``--matte-model``), as a keyer for a chunk."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from models.choices import LAYER_CODECS, MatteSource, ProviderChoice
from models.errors import InputError
from models.keyer_params import KeyerOutput
from models.matte_keyer import MatteKeyer
from models.matters import Matter
from models.yuv import YuvMatrix
from workers.model_files import fetch_model, fetch_onnx
from workers.specs import ChunkSpec


def load_matter(source: MatteSource, model_file: str | None, width: int, height: int, matrix: YuvMatrix,
                providers: ProviderChoice = "auto", threads: int = 0) -> Matter[Any]:
    """The matter for ``source`` on frames of ``width`` x ``height``.

    ``portrait``: MediaPipe Selfie Segmentation (the variant for the frame's aspect, fetched and
    converted by :func:`workers.model_files.fetch_onnx`) in :class:`models.portrait.PortraitMatter`;
    ``modnet``, ``birefnet``, ``rvm``: ``model_file`` when given, else the registry's file of that
    name in the models directory (:func:`workers.model_files.fetch_model`).

    Raises:
        InputError: ``screen`` (not a matter), or ``model_file`` is not a file.
        ModelError: the model is missing (the message names the file, its URL and the folder),
            fails its hash check, does not load, or has the wrong signature.
    """
    if source == "portrait":
        from models.portrait import PortraitMatter
        from models.segmentation import SelfieSegmenter, segmentation_model

        segmenter = SelfieSegmenter(fetch_onnx(segmentation_model(width, height)), providers, threads)
        return PortraitMatter(segmenter, width, height, matrix)
    from models.neural_matting import BiRefNetMatter, ModnetMatter, RvmMatter

    kinds: dict[str, Any] = {"modnet": ModnetMatter, "birefnet": BiRefNetMatter, "rvm": RvmMatter}
    if source not in kinds:
        raise InputError(f"the matte source {source!r} is not a matter", "use portrait, modnet, birefnet or rvm")
    if model_file is not None and not Path(model_file).is_file():
        raise InputError(f"the matting model {model_file} is not a file", "pass the ONNX file with --matte-model")
    path = Path(model_file) if model_file is not None else fetch_model(source)
    matter: Matter[Any] = kinds[source](path, width, height, matrix, providers, threads)
    return matter


def build_matte_keyer(spec: ChunkSpec, matrix: YuvMatrix, threads: int = 0) -> MatteKeyer[Any]:
    """The keyer a chunk of a job without a screen needs: its matter
    (:func:`load_matter`) with the job's output (the layer for a layer codec, else the composite)."""
    output: KeyerOutput = "layer" if spec.encode.codec in LAYER_CODECS else "composite"
    matter = load_matter(spec.matte, spec.matte_model, spec.encode.width, spec.encode.height, matrix, spec.providers,
                         threads)
    return MatteKeyer(matter, spec.encode.width, spec.encode.height, matrix, output,
                      subsampled=spec.encode.working_format == "yuv420p")
