"""Image sequences in and out: a real clip made into an EXR and a DPX sequence renders to an EXR
sequence with alpha that OpenImageIO reads back with the source's frame numbers, whose straight
colour and alpha match the movie render of the same clip, and whose composite over the plate
(OpenImageIO's ``over``) matches Mattefarm's own DPX composite."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import OpenImageIO as oiio
import pytest

from jobs.db import make_engine, session_factory
from jobs.options import RenderOptions
from jobs.pipeline import create_job, run_job
from jobs.tables import Job, State
from models.choices import default_codec
from models.colour_management import WORKING, convert
from models.errors import InputError
from tests.conftest import media
from workers.runner import LocalRunner
from workers.storage import Storage

FRAMES, FIRST = 16, 1001
LINEAR = "Linear Rec.709 (sRGB)"
pytestmark = pytest.mark.slow


def _write_image(path: str, frame: av.VideoFrame, codec: str, options: dict[str, str] | None = None) -> None:
    with av.open(path, "w", format="image2") as out:
        stream = out.add_stream(codec, rate=25)
        stream.width, stream.height, stream.pix_fmt = frame.width, frame.height, frame.format.name
        stream.options = options or {}
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)


@pytest.fixture(scope="module")
def shot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first frames of a real green-screen clip as a lossless BT.709 movie, as an EXR sequence
    (scene-linear, half float) and as a DPX sequence (10-bit Rec.709), numbered from 1001; and the
    plate at the clip's size."""
    root = tmp_path_factory.mktemp("sequences")
    (root / "exr").mkdir()
    (root / "dpx").mkdir()
    with av.open(media("greenscreen/cremad_1001_DFA_HAP_XX.flv")) as source, av.open(str(root / "src.mkv"), "w") as movie:
        stream = movie.add_stream("ffv1", rate=25)
        for i, frame in enumerate(source.decode(video=0)):
            if i == FRAMES:
                break
            rgb = frame.to_ndarray(format="rgb24")
            if i == 0:
                stream.width, stream.height, stream.pix_fmt = frame.width, frame.height, "yuv420p"
            yuv = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p", dst_colorspace=1, dst_color_range=1)
            yuv.pts, yuv.time_base, yuv.colorspace, yuv.color_range = i, Fraction(1, 25), 1, 1
            for packet in stream.encode(yuv):
                movie.mux(packet)
            display = rgb.astype(np.float32) / 255
            linear = av.VideoFrame.from_ndarray(convert(display, WORKING, LINEAR), format="gbrpf32le")
            _write_image(str(root / "exr" / f"shot.{FIRST + i:04d}.exr"), linear, "exr", {"format": "half"})
            codes = av.VideoFrame.from_ndarray((display * 65535 + 0.5).astype(np.uint16), format="rgb48le")
            _write_image(str(root / "dpx" / f"shot.{FIRST + i:04d}.dpx"), codes.reformat(format="gbrp10le"), "dpx")
        for packet in stream.encode(None):
            movie.mux(packet)
        size = (stream.width, stream.height)
    plate = cv2.imread(media("backgrounds/skimage_rocket_launch.jpg"))
    cv2.imwrite(str(root / "plate.png"), cv2.resize(plate, size, interpolation=cv2.INTER_AREA))
    return root


def _render(home: Path, source: str, output: str, **options: object) -> Job:
    engine = make_engine(f"sqlite:///{home / 'db.sqlite'}")
    with session_factory(engine)() as session:
        options.setdefault("codec", default_codec(output))  # as the command line picks it
        job = create_job(session, source, output, RenderOptions(chunk_frames=8, frame_rate="25", **options))  # type: ignore[arg-type]
        run_job(session, job, Storage(str(home / "storage")), LocalRunner)
        return job


def _read(path: Path) -> np.ndarray:
    image = oiio.ImageBuf(str(path))
    assert not image.has_error, image.geterror()
    return image.get_pixels(oiio.FLOAT)


def _movie_layer(path: str) -> list[np.ndarray]:
    """The ProRes 4444 layer's frames as ``(H, W, 4)`` float RGBA (straight, display-referred)."""
    with av.open(path) as container:
        return [f.reformat(format="gbrapf32le", src_colorspace=1, dst_color_range=2).to_ndarray()
                for f in container.decode(video=0)]


def test_exr_and_dpx_sequences_render_to_an_exr_sequence_that_matches_the_movie_render(shot: Path, tmp_path: Path) -> None:
    layer = _movie_layer(_render(tmp_path / "m", str(shot / "src.mkv"), str(tmp_path / "layer.mov"), codec="prores4444").output_uri)
    for kind, pattern in (("exr", "shot.####.exr"), ("dpx", "shot.%04d.dpx")):
        out = tmp_path / f"from_{kind}"
        job = _render(tmp_path / kind, str(shot / kind / pattern), str(out / "key.%04d.exr"))
        assert job.state == State.DONE
        assert sorted(p.name for p in out.iterdir()) == [f"key.{FIRST + i:04d}.exr" for i in range(FRAMES)], \
            "one file per frame, with the source's numbers, and no part file left"
        spec = oiio.ImageBuf(str(out / f"key.{FIRST:04d}.exr")).spec()
        assert spec.channelnames == ("R", "G", "B", "A") and spec.format == oiio.TypeDesc("half")
        alpha_error, colour_error = [], []
        for i in range(FRAMES):
            pixels = _read(out / f"key.{FIRST + i:04d}.exr")
            alpha, movie = pixels[..., 3], layer[i]
            alpha_error.append(np.abs(alpha - movie[..., 3]))
            solid = (alpha > 0.5) & (movie[..., 3] > 0.5)
            colour_error.append(np.abs(convert(pixels[..., :3], LINEAR, WORKING) - movie[..., :3])[solid])
        alphas = np.concatenate([e.ravel() for e in alpha_error])
        colours = np.concatenate([e.ravel() for e in colour_error])
        assert alphas.mean() < 0.01 and np.percentile(alphas, 99) < 0.15, (kind, alphas.mean(), np.percentile(alphas, 99))
        assert colours.mean() < 0.01 and np.percentile(colours, 99) < 0.04, (kind, colours.mean(), np.percentile(colours, 99))
        assert 0.2 < (_read(out / f"key.{FIRST + 5:04d}.exr")[..., 3] > 0.5).mean() < 0.6, "the actor is kept, the screen is not"


def test_the_exr_layer_over_the_plate_in_openimageio_matches_mattefarms_dpx_composite(shot: Path, tmp_path: Path) -> None:
    plate_path = str(shot / "plate.png")
    _render(tmp_path / "a", str(shot / "exr" / "shot.####.exr"), str(tmp_path / "key" / "key.####.exr"))
    _render(tmp_path / "b", str(shot / "exr" / "shot.####.exr"), str(tmp_path / "comp" / "comp.%04d.dpx"),
            background=plate_path)
    plate = _read(Path(plate_path))[..., :3]
    errors = []
    for i in range(FRAMES):
        layer = _read(tmp_path / "key" / f"key.{FIRST + i:04d}.exr")
        alpha = layer[..., 3:]
        premultiplied = np.concatenate([convert(layer[..., :3], LINEAR, WORKING) * alpha, alpha], axis=-1)
        fg = oiio.ImageBuf(oiio.ImageSpec(layer.shape[1], layer.shape[0], 4, oiio.FLOAT))
        fg.set_pixels(oiio.ROI(), np.ascontiguousarray(premultiplied, np.float32))
        bg = oiio.ImageBuf(oiio.ImageSpec(layer.shape[1], layer.shape[0], 4, oiio.FLOAT))
        bg.set_pixels(oiio.ROI(), np.ascontiguousarray(np.concatenate([plate, np.ones_like(alpha)], -1), np.float32))
        theirs = oiio.ImageBufAlgo.over(fg, bg).get_pixels(oiio.FLOAT)[..., :3]
        ours = _read(tmp_path / "comp" / f"comp.{FIRST + i:04d}.dpx")
        assert ours.shape == theirs.shape, "DPX composite: RGB at the shot's size"
        errors.append(np.abs(theirs - ours).max(axis=-1).ravel())
    error = np.concatenate(errors)
    assert error.mean() < 0.01 and np.percentile(error, 99) < 0.04, (error.mean(), np.percentile(error, 99))


def test_premultiplied_exr_and_sound_for_a_movie_made_from_a_sequence(shot: Path, tmp_path: Path) -> None:
    straight, premultiplied = tmp_path / "s", tmp_path / "p"
    _render(tmp_path / "a", str(shot / "exr" / "shot.####.exr"), str(straight / "k.####.exr"))
    _render(tmp_path / "b", str(shot / "exr" / "shot.####.exr"), str(premultiplied / "k.####.exr"), premultiplied=True)
    s, p = _read(straight / f"k.{FIRST + 3:04d}.exr"), _read(premultiplied / f"k.{FIRST + 3:04d}.exr")
    assert np.allclose(p[..., 3], s[..., 3]) and np.allclose(p[..., :3], s[..., :3] * s[..., 3:], atol=2e-3)
    sound = media("greenscreen/cremad_1001_DFA_HAP_XX.flv")
    job = _render(tmp_path / "c", str(shot / "dpx" / "shot.####.dpx"), str(tmp_path / "with_sound.mp4"),
                  background=str(shot / "plate.png"), audio=sound)
    with av.open(job.output_uri) as out:
        assert out.streams.video[0].frames == FRAMES and len(out.streams.audio) == 1


def test_bad_sequences_are_refused_with_the_problem_named(shot: Path, tmp_path: Path) -> None:
    gappy = tmp_path / "gappy"
    gappy.mkdir()
    for number in (1001, 1002, 1004):
        (gappy / f"shot.{number:04d}.exr").write_bytes((shot / "exr" / f"shot.{number:04d}.exr").read_bytes())
    job = None
    with pytest.raises(InputError, match="1003 missing"):
        job = _render(tmp_path / "a", str(gappy / "shot.####.exr"), str(tmp_path / "o.mp4"), background=str(shot / "plate.png"))
    assert job is None
    with pytest.raises(InputError, match="no file matches"):
        _render(tmp_path / "b", str(gappy / "take.####.exr"), str(tmp_path / "o.mp4"), background=str(shot / "plate.png"))
    with pytest.raises(InputError, match="frame-number field"):
        RenderOptions(codec="exr").check_output(str(tmp_path / "single.exr"))
    with pytest.raises(ValueError, match="not a frame rate"):
        RenderOptions(codec="exr", frame_rate="fast")
    with pytest.raises(ValueError, match="not a colour space"):
        RenderOptions(codec="exr", output_colorspace="Linear Nonsense")
