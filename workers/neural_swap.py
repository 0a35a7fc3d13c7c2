"""Loading a neural swapper for a source identity from the models directory."""

from __future__ import annotations

from models.choices import ProviderChoice
from models.face_replace import Swapper
from models.face_swap import SourceFace
from models.neural_swap import ArcFace, InSwapper, load_emap, source_latent
from workers.model_files import fetch_model


def load_inswapper(source: SourceFace, providers: ProviderChoice = "auto") -> Swapper:
    """``inswapper_128`` with the source's ArcFace latent.

    Raises:
        ModelError: ``inswapper_128.onnx`` or ``arcface_w600k_r50.onnx`` is missing (offline; the
            message names the file, its URL and the folder) or fails its hash check.
    """
    swapper_file = fetch_model("inswapper_128")
    embedding = ArcFace(fetch_model("arcface_w600k_r50"), providers).embed(source.rgb, source.landmarks)
    return InSwapper(swapper_file, source_latent(embedding, load_emap(swapper_file)), providers)
