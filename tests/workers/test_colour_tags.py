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


def _retagged_real_clip(path: Path, primaries: int, trc: int, matrix: int, full_range: bool = False) -> str:
    """The real green-screen clip re-encoded to H.264 with the given colour tags (FFmpeg enum
    values, ISO/IEC 23091-2 code points): the same picture as a tagged source; ``full_range``
    stretches its code values to full range (AVColorRange 2) and tags it so."""
    import av

    settings = EncodeSettings(codec="h264", width=480, height=360, time_base="1/30000", frame_rate="30000/1001",
                              color_primaries=primaries, color_trc=trc, colorspace=matrix, color_range=2 if full_range else 1)
    with av.open(media(REAL_CLIP)) as source, ChunkEncoder(str(path), settings, "image") as out:
        for i, frame in enumerate(source.decode(video=0)):
            if full_range:
                frame = frame.reformat(format="yuv420p", src_color_range=1, dst_color_range=2)
            planes = frame.to_ndarray(format="yuv420p")
            chroma = np.stack([planes[360:450].reshape(180, 240), planes[450:].reshape(180, 240)])
            out.write(i * 1001, np.ascontiguousarray(planes[:360]), np.ascontiguousarray(chroma))
    return str(path)


@pytest.mark.slow
def test_the_prores_4444_layer_carries_the_source_colour_tags(ffprobe: str, ray_pool, home: Path,
                                                              tmp_path: Path) -> None:  # noqa: ANN001
    """ffprobe reads primaries, transfer and matrix of an assembled ProRes 4444 MOV (and its ProRes
    matte) from both places it looks: the MOV 'colr' atom and each ProRes frame header."""
    full = _retagged_real_clip(tmp_path / "full_range.mp4", 5, 6, 5, full_range=True)  # BT.601 625, full range
    full_tags = {"color_primaries": "bt470bg", "color_transfer": "smpte170m", "color_space": "bt470bg",
                 "color_range": "tv"}  # ProRes has no full range: the picture is scaled to TV range
    sources = ((media(REAL_CLIP), SD_DEFAULT), (_retagged_real_clip(tmp_path / "hd_tags.mp4", 1, 1, 1), BT709),
               (full, full_tags))
    for source, expected in sources:
        name = Path(source).stem
        output, matte = str(tmp_path / f"{name}.mov"), str(tmp_path / f"{name}_matte.mov")
        render(home, source, output, ray_pool, codec="prores4444", matte_out=matte, screen="green", chunk_frames=24)
        for path in (output, matte):
            stream = _tags(ffprobe, path)
            assert {k: stream.get(k) for k in expected} == expected, (path, stream)
        assert _tags(ffprobe, output)["codec_tag_string"] == "ap4h"
    src_y, out_y, alpha = _luma_and_alpha(full, str(tmp_path / "full_range.mov"))
    opaque = alpha > 250
    assert 0.1 < opaque.mean() < 0.9, "the layer is keyed"
    expected_y = 16 + src_y[opaque] * 219 / 255  # full range -> TV range, 8-bit code values
    assert np.abs(np.median(out_y[opaque]) - np.median(expected_y)) < 1.5
    assert np.percentile(out_y[opaque], 99.9) <= 236 and np.percentile(out_y[opaque], 0.1) >= 15


def _luma_and_alpha(source: str, layer: str, index: int = 30) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frame ``index``'s luma of the source (8-bit) and of the ProRes layer, and the layer's alpha,
    both on an 8-bit scale (float; FFmpeg decodes ProRes 4444 as 12-bit)."""
    import av

    def frame(path: str) -> av.VideoFrame:
        with av.open(path) as container:
            for i, decoded in enumerate(container.decode(video=0)):
                if i == index:
                    return decoded
        raise AssertionError(f"{path} has fewer than {index + 1} frames")

    def plane(f: av.VideoFrame, i: int, dtype: type) -> np.ndarray:
        rows: np.ndarray = np.frombuffer(memoryview(f.planes[i]), dtype).reshape(f.planes[i].height, -1)
        return rows[:, : f.width].astype(np.float64)

    src, out = frame(source), frame(layer)
    scale = 2 ** (out.format.components[0].bits - 8)
    return plane(src, 0, np.uint8), plane(out, 0, np.uint16) / scale, plane(out, 3, np.uint16) / scale


def test_a_stream_tagged_full_range_is_keyed_as_full_range() -> None:
    """A ``yuv420p`` stream tagged full range (AVCOL_RANGE_JPEG) carries full-range code values, as a
    ``yuvj420p`` one does; untagged or TV-range ``yuv420p`` does not."""
    from workers.frames import full_range_format

    assert full_range_format("yuvj420p") and full_range_format("yuv420p", 2)
    assert not full_range_format("yuv420p", 1) and not full_range_format("yuv420p", 0) and not full_range_format("yuv420p")
