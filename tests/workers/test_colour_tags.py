"""Every output carries the source's colour tags (unspecified ones written as the standard's
default for the frame size), and the ProRes layer is ProRes 4444 ('ap4h'); read back with the
FFmpeg CLI's ffprobe, not with our own code."""

from __future__ import annotations

import json
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from tests.clips import ClipSpec, make_clip
from tests.conftest import media
from tests.jobs.test_render import render
from workers.encode import ChunkEncoder, EncodeSettings

PLATE = media("backgrounds/skimage_rocket_launch.jpg")
SD_DEFAULT = {"color_primaries": "smpte170m", "color_transfer": "smpte170m", "color_space": "smpte170m",
              "color_range": "tv"}
BT709 = {"color_primaries": "bt709", "color_transfer": "bt709", "color_space": "bt709", "color_range": "tv"}


def _tagged_source(path: Path) -> str:
    """A small green-screen clip tagged BT.709, TV range (as most HD sources are), at SD size."""
    frames = make_clip(ClipSpec("plain", frames=12, audio_streams=0), str(path.with_name("plain.mp4")))
    import av

    settings = EncodeSettings(codec="h264", width=176, height=144, time_base="1/25", frame_rate="25",
                              color_primaries=1, color_trc=1, colorspace=1, color_range=1)
    with av.open(frames) as source, ChunkEncoder(str(path), settings, "image") as out:
        for i, frame in enumerate(source.decode(video=0)):
            planes = frame.to_ndarray(format="yuv420p")
            luma = planes[:144]
            chroma = np.stack([planes[144:180].reshape(72, 88), planes[180:].reshape(72, 88)])
            out.write(int(Fraction(i)), np.ascontiguousarray(luma), np.ascontiguousarray(chroma))
    return str(path)


def _tags(ffprobe: str, path: str) -> dict[str, str]:
    shown = subprocess.run([ffprobe, "-v", "error", "-select_streams", "v:0", "-show_streams", "-of", "json", path],
                           capture_output=True, text=True, check=True, timeout=60)
    return json.loads(shown.stdout)["streams"][0]


@pytest.mark.slow
@pytest.mark.parametrize(("codec", "suffix"), [("h264", ".mp4"), ("ffv1", ".mkv")])
def test_every_output_carries_the_source_colour_tags(codec: str, suffix: str, ffprobe: str, ray_pool, home: Path,
                                                     tmp_path: Path) -> None:  # noqa: ANN001
    tagged = _tagged_source(tmp_path / "tagged.mov")
    untagged = make_clip(ClipSpec("untagged", frames=12, audio_streams=0), str(tmp_path / "untagged.mp4"))
    plate = {} if codec == "prores4444" else {"background": PLATE}
    for source, expected in ((tagged, BT709), (untagged, SD_DEFAULT)):
        name = Path(source).stem
        output, matte = str(tmp_path / f"{name}{suffix}"), str(tmp_path / f"{name}_matte{suffix}")
        render(home, source, output, ray_pool, codec=codec, matte_out=matte, screen="green", **plate)
        for path in (output, matte):
            stream = _tags(ffprobe, path)
            assert {k: stream.get(k) for k in expected} == expected, (codec, path)


@pytest.mark.slow
def test_the_prores_layer_is_prores_4444_with_alpha(ffprobe: str, ray_pool, home: Path, tmp_path: Path) -> None:  # noqa: ANN001
    source = make_clip(ClipSpec("layer", frames=12, audio_streams=0), str(tmp_path / "layer.mp4"))
    render(home, source, str(tmp_path / "layer.mov"), ray_pool, codec="prores4444", screen="green", chunk_frames=4)
    layer = _tags(ffprobe, str(tmp_path / "layer.mov"))
    assert layer["codec_tag_string"] == "ap4h" and layer["profile"] == "4444", layer
    assert layer["pix_fmt"].startswith("yuva444p") and layer["color_range"] == "tv"  # 5.1 decodes 4444 as 12-bit


REAL_CLIP = "greenscreen/cremad_1001_DFA_HAP_XX.flv"  # 480x360 VP6, no colour tags: SD defaults expected


def _retagged_real_clip(path: Path, primaries: int, trc: int, matrix: int) -> str:
    """The real green-screen clip re-encoded to H.264 with the given colour tags (FFmpeg enum
    values, ISO/IEC 23091-2 code points), TV range: the same picture as a tagged source."""
    import av

    settings = EncodeSettings(codec="h264", width=480, height=360, time_base="1/30000", frame_rate="30000/1001",
                              color_primaries=primaries, color_trc=trc, colorspace=matrix, color_range=1)
    with av.open(media(REAL_CLIP)) as source, ChunkEncoder(str(path), settings, "image") as out:
        for i, frame in enumerate(source.decode(video=0)):
            planes = frame.to_ndarray(format="yuv420p")
            chroma = np.stack([planes[360:450].reshape(180, 240), planes[450:].reshape(180, 240)])
            out.write(i * 1001, np.ascontiguousarray(planes[:360]), np.ascontiguousarray(chroma))
    return str(path)


@pytest.mark.slow
def test_the_prores_4444_layer_carries_the_source_colour_tags(ffprobe: str, ray_pool, home: Path,
                                                              tmp_path: Path) -> None:  # noqa: ANN001
    """ffprobe reads primaries, transfer and matrix of an assembled ProRes 4444 MOV (and its ProRes
    matte) from both places it looks: the MOV 'colr' atom and each ProRes frame header."""
    sources = ((media(REAL_CLIP), SD_DEFAULT), (_retagged_real_clip(tmp_path / "hd_tags.mp4", 1, 1, 1), BT709))
    for source, expected in sources:
        name = Path(source).stem
        output, matte = str(tmp_path / f"{name}.mov"), str(tmp_path / f"{name}_matte.mov")
        render(home, source, output, ray_pool, codec="prores4444", matte_out=matte, screen="green", chunk_frames=24)
        for path in (output, matte):
            stream = _tags(ffprobe, path)
            assert {k: stream.get(k) for k in expected} == expected, (path, stream)
        assert _tags(ffprobe, output)["codec_tag_string"] == "ap4h"
