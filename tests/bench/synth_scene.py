"""Drawing for the synthetic screen clips: actor sprite, lit screen, motion path, frame compositing.

Colours are RGB float32 in [0, 1], display-referred (the photos' sRGB values; blending is done in
that space, as a keyer working on decoded video sees it). Lengths are pixels of the output frame
unless noted; the actor is drawn in units of ``hh``, the head's vertical semi-axis (0.14 of the
frame height). Time is in frames. Everything random comes from a ``numpy.random.Generator``.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from types import MappingProxyType

import cv2
import numpy as np

from tests.conftest import media

SS = 4  # supersampling factor for the actor's masks and hair strands


@dataclass(frozen=True)
class Look:
    """A screen preset. rgb: nominal screen colour; spill: strength k of the tint toward it;
    noise: sensor noise sigma (in [0, 1] units); shutter: open fraction of the frame interval;
    vignette: darkening at the corners and shadow: darkening under the actor's shadow (fractions)."""

    rgb: tuple[float, float, float]
    spill: float = 0.35
    noise: float = 2.0 / 255
    shutter: float = 0.5
    vignette: float = 0.3
    shadow: float = 0.4


LOOKS = MappingProxyType({
    "green": Look((0.15, 0.62, 0.25)),
    "blue": Look((0.10, 0.25, 0.70)),
    "yellowgreen": Look((0.45, 0.70, 0.15)),
    "bluegreen": Look((0.05, 0.55, 0.50)),
    "hard": Look((0.06, 0.248, 0.10), spill=0.6, noise=4.0 / 255, shutter=0.75, vignette=0.4, shadow=0.5),
    "brightgreen": Look((0.22, 0.75, 0.32)),  # held-out only: a brighter, bluer chroma green
})


@dataclass(frozen=True)
class Knobs:
    """How a scene departs from its look's defaults; the defaults reproduce the synth-1 clips bit
    for bit (every knob multiplies or replaces a value without touching the random draws).

    Screen lighting (multipliers of the look's / the generator's strengths; 0 = off, so 0.1-0.2
    each is an evenly lit screen): vignette, gradient (linear light falloff), folds (cloth ridges
    and undulations), shadow (the actor's shadow), flicker (exposure flicker amplitude).
    Hair: hair = number of strands; hair_opacity scales the four opacity classes (0.35, 0.55,
    0.75, 0.95); flyaway = fraction of long strands that leave the hair outward over the screen
    (sparse low-alpha strands: few strands, low opacity, many flyaways).
    Spill: spill scales the look's spill k everywhere; veil_spill = how far the veil's colour is
    tinted toward the screen, as a multiple of k (0.9 today: little spill ~0.2, heavy ~2); the
    tint, veil_spill x k, is a fraction of the way to the screen colour and must stay <= 1.
    Motion: shutter = open fraction of the frame interval (None: the look's); the speed is
    SynthSpec.motion. noise: sensor noise sigma in [0, 1] units (None: the look's).
    mirror: flip the photo left to right (another texture from the same still).
    hide_hair, hide_veil: draw the strands / the veil (so every random draw is the same) but leave
    them out; the benchmark renders these variants to tell which layer a pixel's alpha comes from.
    """

    vignette: float = 1.0
    gradient: float = 1.0
    folds: float = 1.0
    shadow: float = 1.0
    flicker: float = 1.0
    hair: int = 700
    hair_opacity: float = 1.0
    flyaway: float = 0.06
    spill: float = 1.0
    veil_spill: float = 0.9
    shutter: float | None = None
    noise: float | None = None
    mirror: bool = False
    hide_hair: bool = False
    hide_veil: bool = False


EVEN_LIGHT = {"vignette": 0.15, "gradient": 0.15, "folds": 0.15, "shadow": 0.25}  # an evenly lit screen
SPARSE_STRANDS = {"hair": 260, "hair_opacity": 0.45, "flyaway": 0.55}  # few fine low-alpha strands

# Per photo: face box (x, y, w, h) in photo pixels, measured once with OpenCV's FaceDetectorYN and
# shared/models/face_detection_yunet_2023mar.onnx (score > 0.9); hair colour (RGB) and the body's
# half width at the shoulders in face widths (narrower side), both judged by eye. Others: _photo.
FACES = MappingProxyType({
    "faces/wh_obama_official_portrait.jpg": ((371, 91, 241, 329), (0.13, 0.12, 0.11), 1.35),
    "faces/wh_biden_blue_room.jpg": ((427, 177, 287, 398), (0.78, 0.77, 0.74), 1.35),
    "faces/skimage_astronaut_eileen_collins.png": ((179, 63, 91, 111), (0.55, 0.40, 0.22), 1.5),
    "faces/wh_obama_joint_session.jpg": ((202, 229, 276, 405), (0.12, 0.11, 0.10), 1.05),
    "faces/wh_obama_blue_room.jpg": ((643, 273, 265, 345), (0.14, 0.13, 0.12), 1.45),
    "faces/wh_two_people.jpg": ((241, 31, 142, 196), (0.16, 0.14, 0.12), 1.3),
    # GRID video frames ("file.mpg#frame"), face boxes measured the same way on that frame
    "faces/grid_lbbc2a.mpg#10": ((130, 105, 117, 163), (0.22, 0.13, 0.10), 1.2),
    "faces/grid_sbia1a.mpg#10": ((134, 96, 100, 148), (0.22, 0.17, 0.12), 1.6),
    "faces/grid_bbaf2n.mpg#10": ((104, 102, 101, 148), (0.18, 0.13, 0.09), 1.6),
    "faces/grid_pwij3p.mpg#10": ((133, 91, 107, 156), (0.48, 0.44, 0.38), 1.6),
    "faces/grid_lrwp9a.mpg#10": ((122, 86, 127, 173), (0.45, 0.32, 0.20), 1.3),
})

VEIL_COLOURS = ((0.85, 0.30, 0.42), (0.92, 0.62, 0.22), (0.88, 0.87, 0.82))  # rose, amber, ivory
BODY_RIGHT = np.float32([  # right half of neck + shoulders, (X, Y) in hh from the head centre
    (0.32, 0.3), (0.35, 1.15), (0.44, 1.45), (0.7, 1.6), (1.08, 1.72), (1.46, 1.86),
    (1.75, 2.05), (1.92, 2.35), (2.0, 2.9), (2.04, 4.0), (2.08, 6.2)])


@dataclass(frozen=True)
class Sprite:
    """The actor drawn once, premultiplied, in its own pixel frame.

    clean: (h, w, 4) float32 [a, a*F] with the clean straight foreground F (RGB);
    spill: (h, w, 4) float32 [a*F_spill, 0], F tinted toward the screen colour;
    pivot: (x, y) sprite pixel that the pose places and rotates about (base of the neck);
    hh: pixels per head semi-axis.
    """

    clean: np.ndarray
    spill: np.ndarray
    pivot: tuple[float, float]
    hh: float


def _shirt(rgb: np.ndarray, name: str, rows: int) -> np.ndarray:
    """(rows, w, 3) uint8 cloth continuing a frame cut at the collar: the median colour of its
    bottom rows on both sides of the neck (0.55-1.0 face widths from the face's centre), shaded by
    soft vertical folds and blotches. Deterministic per photo name (seeded by its CRC-32)."""
    h, w = rgb.shape[:2]
    fx, _, fw, _ = FACES[name][0]
    centre = fx + fw / 2
    cols = [x for x in range(w) if 0.55 * fw <= abs(x - centre) <= 1.0 * fw]
    colour = np.median(rgb[h - 6 :, cols].reshape(-1, 3).astype(np.float32), axis=0)
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    blotch = cv2.GaussianBlur(rng.standard_normal((rows, w)).astype(np.float32), (0, 0), 9)
    xx = np.arange(w, dtype=np.float32)
    folds = sum(np.sin(2 * np.pi * xx / rng.uniform(18, 45) + rng.uniform(0, 6.3)) for _ in range(3)) / 3
    shade = 1 + 0.08 * folds[None, :] + 2.0 * blotch
    return np.clip(colour * shade[..., None] + 0.5, 0, 255).astype(np.uint8)


def _read_photo(name: str) -> np.ndarray:
    """(h, w, 3) uint8 RGB of a still, or of frame N of a video named ``file#N`` (BT.709 decode).
    A video frame (GRID: framed at the collar) gets twice its height of shirt below it
    (:func:`_shirt`), so the body has cloth down to the frame's bottom instead of a reflection."""
    path, _, index = name.partition("#")
    if not index:
        return cv2.cvtColor(cv2.imread(media(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    import av  # only video photos need it

    with av.open(media(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i == int(index):
                rgb = frame.reformat(format="rgb24", src_colorspace=1, dst_colorspace=1).to_ndarray()
                return np.vstack([rgb, _shirt(rgb, name, 2 * rgb.shape[0])])
    raise ValueError(f"{path} has no frame {index}")


def _photo(name: str, mirror: bool = False) -> tuple[np.ndarray, tuple, np.ndarray, float]:
    """(photo (h, w, 3) float32 RGB in [0, 1], face box (x, y, w, h) in photo pixels, hair colour
    (3,) float32, shoulder half width in face widths); mirror flips the photo and its face box."""
    rgb = _read_photo(name).astype(np.float32) / 255
    h, w = rgb.shape[:2]
    face, hair, body = FACES.get(name, ((0.35 * w, 0.08 * h, 0.3 * w, 0.3 * w), (0.2, 0.13, 0.08), 1.4))
    if mirror:
        rgb, face = np.ascontiguousarray(rgb[:, ::-1]), (w - face[0] - face[2], *face[1:])
    return rgb, face, np.float32(hair), body


def _coverage(shape: tuple[int, int], draw) -> np.ndarray:
    """Anti-aliased coverage (h, w) float32 in [0, 1]: ``draw(canvas, px)`` paints 255 on a uint8
    canvas SS times larger, px maps (N, 2) sprite pixels to the int32 points cv2 takes (shift=4)."""
    canvas = np.zeros((shape[0] * SS, shape[1] * SS), np.uint8)
    draw(canvas, lambda p: np.round(np.asarray(p) * SS * 16).astype(np.int32))
    return cv2.resize(canvas, (shape[1], shape[0]), interpolation=cv2.INTER_AREA).astype(np.float32) / 255


def _chaikin(points: np.ndarray, rounds: int = 3) -> np.ndarray:
    """Corner-cut an open polyline (N, 2) `rounds` times (keeps its end points)."""
    for _ in range(rounds):
        a, b = points[:-1], points[1:]
        cut = np.stack([0.75 * a + 0.25 * b, 0.25 * a + 0.75 * b], 1).reshape(-1, 2)
        points = np.vstack([points[:1], cut, points[-1:]])
    return points


def _body(shape, centre, hh, aspect, width) -> np.ndarray:
    """Head (an egg: ellipse narrowing to the jaw) + neck + shoulders, union, soft edge (~2 px
    ramp): (h, w) float32 alpha."""
    right = _chaikin(BODY_RIGHT * np.float32([width, 1.0]))
    outline = np.vstack([right, right[::-1] * np.float32([-1, 1])]) * hh + centre
    t = np.linspace(0, 2 * np.pi, 180, endpoint=False)
    jaw = 1 - 0.16 * np.maximum(np.sin(t), 0) ** 2
    head = np.stack([aspect * np.cos(t) * jaw, np.sin(t)], 1) * hh + centre

    def draw(canvas, px):
        for polygon in (outline, head):  # one call each: fillPoly XORs overlapping polygons
            cv2.fillPoly(canvas, [px(polygon)], 255, cv2.LINE_8, shift=4)

    return cv2.GaussianBlur(_coverage(shape, draw), (0, 0), 0.7)


def _cap(shape, centre, hh, aspect, rng) -> tuple[np.ndarray, np.ndarray]:
    """The hair mass on top of the head, 6 % beyond the head ellipse, down to a hairline:
    (alpha (h, w) float32, streaky shade (h, w) float32 around 1)."""
    yy, xx = np.mgrid[: shape[0], : shape[1]].astype(np.float32)
    x, y = (xx - centre[0]) / hh, (yy - centre[1]) / hh
    radius = np.sqrt((x / (1.06 * aspect)) ** 2 + (y / 1.06) ** 2)
    inside = np.clip((1 - radius) * hh + 0.5, 0, 1)
    wobble = sum(0.025 / k * np.sin(2 * np.pi * x * k / 0.6 + rng.uniform(0, 6.3)) for k in (1, 2.3, 4.1))
    hairline = -0.64 + rng.uniform(-0.06, 0.04) + 0.62 * np.abs(x / aspect) ** 2.5 + wobble
    cap = cv2.GaussianBlur(inside * np.clip((hairline - y) / 0.08 + 0.5, 0, 1), (0, 0), 0.6)
    streaks = rng.random((max(2, shape[0] // 8), shape[1]), dtype=np.float32)
    streaks = cv2.GaussianBlur(cv2.resize(streaks, (shape[1], shape[0])), (0, 0), 0.6, sigmaY=4)
    return cap, 0.8 + 0.4 * streaks


def _texture(photo, face, body_half, shoulders, shape, centre, hh) -> np.ndarray:
    """The photo scaled so its face fills the head, and below the neck stretched sideways so its
    body's shoulders meet the silhouette's (`shoulders`, hh): (h, w, 3) float32 RGB."""
    fx, fy, fw, fh = face
    scale = 1.6 * hh / (1.15 * fw)
    small = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    yy, xx = np.mgrid[: shape[0], : shape[1]].astype(np.float32)
    ramp = np.clip((yy - centre[1]) / hh - 0.9, 0, 1)
    stretch = 1 + ramp * ramp * (3 - 2 * ramp) * (shoulders / (body_half * fw * scale / hh) - 1)
    map_x = (fx + fw / 2) * scale + (xx - centre[0]) / stretch
    map_y = (fy + fh / 2) * scale + yy - centre[1] - 0.12 * hh
    return cv2.remap(small, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)


def _strand(rng, centre, hh, aspect, flyaway_share: float = 0.06) -> np.ndarray:
    """One curved hair strand rooted in the hair mass, flowing over the top/sides of the head and
    falling outward: (10, 2) float32 sprite pixels."""
    theta = rng.uniform(-math.pi + 0.35, -0.35)
    normal = np.array([math.cos(theta) / aspect, math.sin(theta)])
    normal /= np.linalg.norm(normal)
    down = np.array([-normal[1], normal[0]]) * (1 if theta > -math.pi / 2 else -1)
    flyaway = rng.random() < flyaway_share
    mix = rng.uniform(0.4, 0.9) if flyaway else rng.uniform(0.0, 0.35)
    direction = mix * normal + (1 - mix) * down + rng.normal(0, 0.1, 2)
    length = hh * (rng.uniform(0.4, 0.75) if flyaway else rng.uniform(0.1, 0.35))
    point = np.array(centre) + rng.uniform(0.9, 1.05) * hh * np.array([aspect * math.cos(theta), math.sin(theta)])
    gravity, curl = rng.uniform(0.02, 0.12), rng.normal(0, 0.08)
    points = [point]
    for _ in range(9):
        direction = direction / np.linalg.norm(direction)
        direction = direction + np.array([0.0, gravity]) + curl * np.array([-direction[1], direction[0]])
        points.append(points[-1] + direction / np.linalg.norm(direction) * length / 9)
    return np.float32(points)


def _hair(shape, centre, hh, aspect, rng, count: int = 700, opacity_scale: float = 1.0,
          flyaway: float = 0.06) -> np.ndarray:
    """Fine strands of partial alpha (sub-pixel to ~1 px wide, 0.2-0.8 peak): (h, w) float32.
    Drawn per opacity class with LINE_AA at SS x, combined as 1 - prod(1 - opacity * coverage).
    opacity_scale multiplies the classes; flyaway: fraction of long outward strands."""
    opacity = tuple(op * opacity_scale for op in (0.35, 0.55, 0.75, 0.95))
    alpha = np.ones(shape, np.float32)
    strands = [(_strand(rng, centre, hh, aspect, flyaway), rng.integers(0, 4), rng.integers(1, 4))
               for _ in range(count)]
    for k, op in enumerate(opacity):
        lines = [(s, t) for s, c, t in strands if c == k]

        def draw(canvas, px, lines=lines):
            for points, thick in lines:
                cv2.polylines(canvas, [px(points)], False, 255, int(thick), cv2.LINE_AA, shift=4)

        alpha *= 1 - op * _coverage(shape, draw)
    return 1 - alpha


def _veil(shape, centre, hh, rng) -> tuple[np.ndarray, np.ndarray]:
    """A chiffon scarf from one shoulder out over the screen, with wavy folds: (alpha (h, w)
    float32, 0.3-0.6 where fully covered; colour (h, w, 3) float32 RGB)."""
    side = rng.choice([-1.0, 1.0])
    ctrl = np.float32([(0.9, 1.7), (2.4, 1.9), (3.3, 3.3), (2.9, 6.2)])
    t = np.linspace(0, 1, 40, dtype=np.float32)[:, None]
    line = np.hstack([(1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t**2, t**3]) @ ctrl
    tangent = np.gradient(line, axis=0)
    normal = np.stack([-tangent[:, 1], tangent[:, 0]], 1) / np.linalg.norm(tangent, axis=1, keepdims=True)
    half = 0.22 + 0.35 * t
    outline = np.vstack([line + normal * half, (line - normal * half)[::-1]]) * np.float32([side, 1]) * hh + centre
    cover = _coverage(shape, lambda canvas, px: cv2.fillPoly(canvas, [px(outline)], 255, cv2.LINE_8, shift=4))
    yy, xx = np.mgrid[: shape[0], : shape[1]].astype(np.float32)
    x, y = side * (xx - centre[0]) / hh, (yy - centre[1]) / hh
    wave = 2 * np.pi * (0.8 * x - 0.6 * y) / 0.45 + 1.2 * np.sin(2 * np.pi * (0.6 * x + 0.8 * y) / 1.7)
    folds = 0.5 + 0.5 * np.sin(wave + rng.uniform(0, 6.3)) ** 3
    alpha = cv2.GaussianBlur(cover, (0, 0), 1.2) * (0.3 + 0.3 * folds)
    colour = np.float32(VEIL_COLOURS[rng.integers(0, len(VEIL_COLOURS))])
    return alpha, np.clip(colour * (0.85 + 0.25 * folds)[..., None], 0, 1)


def _over(top_a, top_c, bottom_a, bottom_p):
    """Porter-Duff over: straight top (a, colour) over premultiplied bottom -> (a, premult)."""
    return top_a + (1 - top_a) * bottom_a, top_a[..., None] * top_c + (1 - top_a)[..., None] * bottom_p


def build_sprite(photo_name: str, height: int, look: Look, rng: np.random.Generator,
                 knobs: Knobs = Knobs()) -> Sprite:
    """Draw the textured actor (body with a hair mass, strands, veil) with clean and spilled
    premultiplied colour. Spill: F + k * m * (screen - F), k = the look's spill x knobs.spill,
    m = blurred (1 - body alpha) inside the body (+ 0.06 ambient), 0.7 on strands,
    knobs.veil_spill (0.9) on the veil. Raises ValueError if a tint goes past the screen colour."""
    if max(0.7, knobs.veil_spill) * look.spill * knobs.spill > 1:
        raise ValueError("spill past the screen colour: (the look's spill x spill) x max(0.7, veil_spill) must be <= 1")
    hh, aspect = 0.14 * height, rng.uniform(0.72, 0.8)
    shape = (int(math.ceil(8.2 * hh)), int(math.ceil(7.2 * hh)))
    centre = np.float32([3.6 * hh, 2.0 * hh])
    photo, face, hair_c, body_half = _photo(photo_name, knobs.mirror)
    cap, streaks = _cap(shape, centre, hh, aspect, rng)
    width = rng.uniform(0.93, 1.05)
    body = np.maximum(_body(shape, centre, hh, aspect, width), cap)
    texture = _texture(photo, face, body_half, 1.9 * width, shape, centre, hh)
    texture += cap[..., None] * (np.clip(hair_c * streaks[..., None], 0, 1) - texture)
    hair = _hair(shape, centre, hh, aspect, rng, knobs.hair, knobs.hair_opacity, knobs.flyaway)
    veil_a, veil_c = _veil(shape, centre, hh, rng)
    hair, veil_a = hair * (not knobs.hide_hair), veil_a * (not knobs.hide_veil)
    screen = np.float32(look.rgb)
    edge = np.clip(1.8 * cv2.GaussianBlur(1 - body, (0, 0), 0.06 * hh), 0, 1) + 0.06
    layers = {}
    for key, k in (("clean", 0.0), ("spill", look.spill * knobs.spill)):
        tex = texture + (k * edge)[..., None] * (screen - texture)
        a, p = _over(hair, hair_c + 0.7 * k * (screen - hair_c), body, body[..., None] * tex)
        layers[key] = _over(veil_a, veil_c + knobs.veil_spill * k * (screen - veil_c), a, p)
    a, clean = layers["clean"]
    return Sprite(
        clean=np.dstack([a, clean]).astype(np.float32),
        spill=np.dstack([layers["spill"][1], np.zeros_like(a)]).astype(np.float32),
        pivot=(float(centre[0]), float(centre[1] + 1.3 * hh)), hh=hh)


def build_screen(width: int, height: int, look: Look, rng: np.random.Generator,
                 knobs: Knobs = Knobs()) -> np.ndarray:
    """The unevenly lit screen cloth (static): (H, W, 3) float32 RGB: vignette, linear gradient,
    hanging folds (derivative-of-Gaussian ridges) and soft undulations, each scaled by its knob."""
    yy, xx = np.mgrid[:height, :width].astype(np.float32)
    u, v = (xx - width / 2) / height, (yy - height / 2) / height
    cu, cv = rng.uniform(-0.2, 0.2), rng.uniform(-0.15, 0.15)
    light = 1 - look.vignette * knobs.vignette * ((u - cu) ** 2 + (v - cv) ** 2) / 0.9
    angle = rng.uniform(0, 2 * np.pi)
    light *= 1 + rng.uniform(0.08, 0.18) * knobs.gradient * (u * math.cos(angle) + v * math.sin(angle))
    shade = np.zeros_like(u)
    for _ in range(int(rng.integers(4, 8))):
        tilt, x0, w = rng.normal(0, 0.2), rng.uniform(-0.8, 0.8) * width / height, rng.uniform(0.012, 0.04)
        d = (u - x0) * math.cos(tilt) - v * math.sin(tilt)
        along = (u - x0) * math.sin(tilt) + v * math.cos(tilt)
        fade = np.exp(-0.5 * ((along - rng.uniform(-0.5, 0.3)) / rng.uniform(0.25, 0.6)) ** 2)
        shade += rng.uniform(0.05, 0.12) * knobs.folds * (d / w) * np.exp(0.5 - 0.5 * (d / w) ** 2) * fade
    for _ in range(2):
        shade += 0.03 * knobs.folds * np.sin(2 * np.pi * (rng.normal(0, 1.5) * u + rng.normal(0, 1.5) * v) + rng.uniform(0, 6.3))
    return np.clip(np.float32(look.rgb) * (light * (1 + shade))[..., None], 0, 1).astype(np.float32)


@dataclass(frozen=True)
class MotionPath:
    """Sway along a smooth path with fast out-and-back dashes, periodic in `period` frames of
    scaled time (t * speed). pose(t) -> (x, y) frame pixels of the sprite pivot, theta radians."""

    width: int
    height: int
    speed: float
    period: float
    phases: tuple[float, ...]
    dashes: tuple[tuple[float, float, float], ...]  # (start, duration, distance in frame widths)

    @classmethod
    def random(cls, width: int, height: int, speed: float, rng: np.random.Generator,
               period: float = 200.0) -> MotionPath:
        """Two out-and-back dashes (0.12-0.18 of the width in 5-7 frames) per period, random phases."""
        dashes, sign = [], rng.choice([-1.0, 1.0])
        for start in (0.12, 0.6):
            dist, dur = sign * rng.uniform(0.12, 0.18), rng.uniform(5.0, 7.0)
            s = (start + rng.uniform(0, 0.05)) * period
            dashes += [(s, dur, dist), (s + rng.uniform(0.15, 0.25) * period, dur, -dist)]
            sign = -sign
        return cls(width, height, speed, period, tuple(rng.uniform(0, 2 * np.pi, 4)), tuple(dashes))

    def _x(self, t: float) -> float:
        """Pivot x (frame pixels) at time t (frames)."""
        s = (t * self.speed) % self.period
        f = 2 * np.pi * s / self.period
        x = 0.5 + 0.09 * math.sin(2 * f + self.phases[0]) + 0.03 * math.sin(7 * f + self.phases[1])
        for start, dur, dist in self.dashes:
            r = min(max((s - start) / dur, 0.0), 1.0)
            x += dist * r * r * (3 - 2 * r)
        return x * self.width

    def pose(self, t: float) -> tuple[float, float, float]:
        """(x, y) of the pivot in frame pixels and the tilt in radians (sway + leaning into the motion)."""
        f = 2 * np.pi * (t * self.speed % self.period) / self.period
        vx = self._x(t + 0.5) - self._x(t - 0.5)
        y = self.height * (0.53 + 0.012 * math.sin(5 * f + self.phases[2]))
        theta = 0.035 * math.sin(3 * f + self.phases[3]) + 0.4 * vx / self.width
        return self._x(t), y, theta


@dataclass(frozen=True)
class FrameTruth:
    """One rendered frame. observed: (H, W, 3) uint8 RGB (what the camera saw); alpha: (H, W)
    uint8, the exact matte composited with; foreground: (H, W, 3) uint8 clean straight RGB, 0 where
    alpha is 0."""

    observed: np.ndarray
    alpha: np.ndarray
    foreground: np.ndarray


class Scene:
    """Renders frame i of a clip: motion-blurred actor over the lit screen, with shadow, spill,
    exposure flicker and sensor noise. width/height: frame pixels; photo: relative to shared/media;
    speed: motion multiplier; period: the path repeats every period/speed frames; knobs: departures
    from the look (:class:`Knobs`). Frames are independent (noise seeded by (seed, i)), so
    render(i) can be called in any order."""

    def __init__(self, width: int, height: int, look: Look, photo: str, speed: float, seed: int,
                 period: float = 200.0, knobs: Knobs = Knobs()) -> None:
        rng = np.random.default_rng(seed)
        self.size, self.look, self.seed, self.knobs = (width, height), look, seed, knobs
        self.shutter = look.shutter if knobs.shutter is None else knobs.shutter
        self.noise = np.float32(look.noise if knobs.noise is None else knobs.noise)
        self.sprite = build_sprite(photo, height, look, rng, knobs)
        self.screen = build_screen(width, height, look, rng, knobs)
        self.path = MotionPath.random(width, height, speed, rng, period)
        self.shadow_offset = (rng.choice([-1.0, 1.0]) * rng.uniform(0.03, 0.06) * width, rng.uniform(0.02, 0.04) * height)
        self.flicker = (rng.uniform(0.01, 0.025) * knobs.flicker, rng.uniform(0, 2 * np.pi), rng.uniform(20, 60))

    def _matrix(self, t: float, origin: tuple[int, int]) -> np.ndarray:
        """(2, 3) float32 affine from sprite pixels to pixels of a canvas at `origin` in the frame."""
        x, y, theta = self.path.pose(t)
        c, s = math.cos(theta), math.sin(theta)
        px, py = self.sprite.pivot
        return np.float32([[c, -s, x - origin[0] - c * px + s * py], [s, c, y - origin[1] - s * px - c * py]])

    def _subframes(self, i: int) -> tuple[np.ndarray, float, np.ndarray]:
        """(sub-frame times, residual blur length px, unit motion direction (2,))."""
        shutter = self.shutter
        (x0, y0, a0), (x1, y1, a1) = self.path.pose(i - shutter / 2), self.path.pose(i + shutter / 2)
        move = np.array([x1 - x0, y1 - y0])
        extent = float(np.hypot(*move)) + abs(a1 - a0) * 5 * self.sprite.hh
        n = int(np.clip(math.ceil(extent / 2), 5, 12))
        times = i + shutter * ((np.arange(n) + 0.5) / n - 0.5)
        return times, float(np.hypot(*move)) / n, move / max(float(np.hypot(*move)), 1e-6)

    def _roi(self, times: np.ndarray, pad: int) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1) canvas covering the sprite at all sub-frame times, clipped to the frame + pad."""
        h, w = self.sprite.clean.shape[:2]
        corners = np.float32([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1]]).T
        pts = np.hstack([self._matrix(float(t), (0, 0)) @ corners for t in times])
        x0, y0 = np.floor(pts.min(1)).astype(int) - pad
        x1, y1 = np.ceil(pts.max(1)).astype(int) + pad
        width, height = self.size
        return max(x0, -pad), max(y0, -pad), min(x1, width + pad), min(y1, height + pad)

    def _actor(self, i: int) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int, int]]:
        """Motion-blurred premultiplied actor over the frame ROI: (clean (h, w, 4), spill (h, w, 4),
        ROI in frame pixels)."""
        times, step, direction = self._subframes(i)
        pad = int(math.ceil(step)) + 2
        x0, y0, x1, y1 = self._roi(times, pad)
        clean = np.zeros((y1 - y0, x1 - x0, 4), np.float32)
        spill = np.zeros_like(clean)
        for t in times:
            m = self._matrix(float(t), (x0, y0))
            clean += cv2.warpAffine(self.sprite.clean, m, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR)
            spill += cv2.warpAffine(self.sprite.spill, m, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR)
        if step > 0.75:
            kernel = _line_kernel(step, direction)
            clean, spill = (cv2.filter2D(a, -1, kernel, borderType=cv2.BORDER_CONSTANT) for a in (clean, spill))
        scale = np.float32(1 / len(times))
        fx0, fy0 = max(x0, 0), max(y0, 0)
        fx1, fy1 = min(x1, self.size[0]), min(y1, self.size[1])
        crop = (slice(fy0 - y0, fy1 - y0), slice(fx0 - x0, fx1 - x0))
        return clean[crop] * scale, spill[crop] * scale, (fx0, fy0, fx1, fy1)

    def _shadow(self, alpha: np.ndarray) -> np.ndarray:
        """The actor's soft shadow on the screen: (H, W) float32 in [0, 1], computed at 1/4 size."""
        width, height = self.size
        small = cv2.resize(alpha, (width // 4, height // 4), interpolation=cv2.INTER_AREA)
        dx, dy = self.shadow_offset
        m = np.float32([[1, 0, dx / 4], [0, 1, dy / 4]])
        small = cv2.warpAffine(small, m, (width // 4, height // 4), borderMode=cv2.BORDER_REPLICATE)
        small = cv2.GaussianBlur(small, (0, 0), 0.02 * height / 4)
        return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)

    def render(self, i: int) -> FrameTruth:
        """Frame i: C = a_q * F_spill + (1 - a_q) * S_shadowed, times flicker gain, plus noise."""
        width, height = self.size
        clean, spill, (x0, y0, x1, y1) = self._actor(i)
        a = np.clip(clean[..., 0], 0, 1)
        alpha = np.zeros((height, width), np.uint8)
        alpha[y0:y1, x0:x1] = np.round(a * 255).astype(np.uint8)
        aq = alpha[y0:y1, x0:x1].astype(np.float32) / 255
        ratio = np.where(a > 0, aq / np.maximum(a, 1e-8), 0).astype(np.float32)[..., None]
        fa = alpha.astype(np.float32) / 255
        out = self.screen * ((1 - self.look.shadow * self.knobs.shadow * self._shadow(fa)) * (1 - fa))[..., None]
        out[y0:y1, x0:x1] += spill[..., :3] * ratio
        rng = np.random.default_rng([self.seed, i])
        amp, phase, period = self.flicker
        out *= np.float32(1 + amp * (0.6 * math.sin(2 * np.pi * i / period + phase) + 0.4 * rng.uniform(-1, 1)))
        out += rng.standard_normal(out.shape, dtype=np.float32) * self.noise
        observed = np.clip(out * 255 + 0.5, 0, 255).astype(np.uint8)
        fg = np.zeros((height, width, 3), np.uint8)
        straight = np.clip(clean[..., 1:] / np.maximum(a, 1e-8)[..., None], 0, 1)
        fg[y0:y1, x0:x1] = np.where(aq[..., None] > 0, np.round(straight * 255), 0).astype(np.uint8)
        return FrameTruth(observed, alpha, fg)


def _line_kernel(length: float, direction: np.ndarray) -> np.ndarray:
    """Normalised anti-aliased line of `length` px along unit `direction` (bilinear splats):
    turns the S discrete sub-frame copies into a continuous blur."""
    r = int(math.ceil(length / 2)) + 1
    kernel = np.zeros((2 * r + 1, 2 * r + 1), np.float32)
    for s in np.linspace(-length / 2, length / 2, max(2, int(math.ceil(length * 3)))):
        x, y = r + s * direction[0], r + s * direction[1]
        ix, iy = int(math.floor(x)), int(math.floor(y))
        fx, fy = x - ix, y - iy
        kernel[iy : iy + 2, ix : ix + 2] += np.float32([[(1 - fx) * (1 - fy), fx * (1 - fy)], [(1 - fx) * fy, fx * fy]])
    return kernel / kernel.sum()
