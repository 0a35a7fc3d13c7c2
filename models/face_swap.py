"""The built-in face swapper: piecewise-affine mesh warp, colour match in Lab, feathered blend.

Given the source identity's 468 FaceMesh landmarks and the target's solved
landmarks in a frame:

1. the source face is warped onto the target triangle by triangle (a
   piecewise-affine warp over a Delaunay triangulation of the source mesh,
   computed once per source);
2. its colour is matched to the target's skin in CIE Lab: per channel, the
   mean and standard deviation inside the face (Reinhard et al., "Color
   Transfer between Images", IEEE CG&A 2001);
3. it is blended through a feathered mask: the face oval, minus the target's
   own eyes and mouth interior (so blinks and speech stay the actor's).

Index lists are MediaPipe Face Mesh's canonical topology (face oval, eyes,
inner lips).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152, 148,
             176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)
RIGHT_EYE = (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246)
LEFT_EYE = (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466)
BROWS = (70, 63, 105, 66, 107, 336, 296, 334, 293, 300)  # upper edges of both eyebrows
INNER_LIPS = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 415, 310, 311, 312, 13, 82, 81, 80, 191)


def triangulate(points: np.ndarray) -> np.ndarray:
    """Delaunay triangles of ``(N, 2)`` points as ``(T, 3)`` int32 indices."""
    low, high = points.min(0) - 2, points.max(0) + 2
    subdiv = cv2.Subdiv2D((int(low[0]), int(low[1]), int(high[0] - low[0]) + 2, int(high[1] - low[1]) + 2))
    for p in points:
        subdiv.insert((float(p[0]), float(p[1])))
    index = {(round(float(p[0]), 2), round(float(p[1]), 2)): i for i, p in enumerate(points)}
    triangles = []
    for t in np.asarray(subdiv.getTriangleList()).reshape(-1, 3, 2):
        ids = [index.get((round(float(x), 2), round(float(y), 2))) for x, y in t]
        if None not in ids:
            triangles.append(ids)
    return np.asarray(triangles, dtype=np.int32)


@dataclass(frozen=True)
class SourceFace:
    """The identity to paste: its image, landmarks and triangulation.

    Attributes:
        rgb: ``(H, W, 3)`` uint8. landmarks: ``(468, 2)`` float32 in its pixels. triangles: ``(T, 3)`` int32.
        pyramid: the image as float32 at full, half, quarter ... size (``cv2.pyrDown``), 5 levels.
    """

    rgb: np.ndarray
    landmarks: np.ndarray
    triangles: np.ndarray
    pyramid: tuple[np.ndarray, ...] = ()

    @classmethod
    def of(cls, rgb: np.ndarray, landmarks: np.ndarray) -> "SourceFace":
        """Triangulate the source mesh and build the image pyramid once."""
        points = landmarks[:, :2].astype(np.float32)
        levels: list[np.ndarray] = [rgb.astype(np.float32)]
        for _ in range(4):
            if min(levels[-1].shape[:2]) < 32:
                break
            levels.append(cv2.pyrDown(levels[-1]))
        return cls(rgb, points, triangulate(points), tuple(levels))


def _pyramid_level(source: SourceFace, target_points: np.ndarray) -> int:
    """How many halvings bring the source face near the target's size (pre-filtering a large
    source before a strong minification, so the warp does not alias)."""
    ratio = float(np.ptp(source.landmarks[:, 0])) / max(1.0, float(np.ptp(target_points[:, 0])))
    return int(np.clip(np.floor(np.log2(max(ratio, 1.0))), 0, len(source.pyramid) - 1))


def warp_face(source: SourceFace, target_points: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The source face warped onto ``(468, 2)`` target landmarks by a piecewise-affine map.

    Every target pixel is assigned the triangle that covers it (triangles are
    rasterised with their edges, so neighbours leave no gap between them, even
    on a face a few dozen pixels wide); each triangle's affine map from target
    to source gives the pixel's source position, and one ``cv2.remap`` samples
    the source (from the pyramid level nearest the target's scale).

    Args:
        size: ``(W, H)`` of the target frame (or region).

    Returns:
        ``(face (H, W, 3) float32 RGB 0-255, covered (H, W) bool)``: 0 where no triangle lies.
    """
    width, height = size
    owner = np.full((height, width), -1, np.int32)
    for t, tri in enumerate(source.triangles):
        corners = np.round(target_points[tri]).astype(np.int32)
        cv2.fillConvexPoly(owner, corners, t, cv2.LINE_8)
        cv2.polylines(owner, [corners], True, t, 1, cv2.LINE_8)
    covered = owner >= 0
    if not covered.any():
        return np.zeros((height, width, 3), np.float32), covered
    level = _pyramid_level(source, target_points)
    maps = _target_to_source(source.landmarks / (2 ** level), target_points, source.triangles)
    ys, xs = np.nonzero(covered)
    m = maps[owner[ys, xs]]
    map_x = np.full((height, width), -1.0, np.float32)
    map_y = np.full((height, width), -1.0, np.float32)
    map_x[ys, xs] = m[:, 0, 0] * xs + m[:, 0, 1] * ys + m[:, 0, 2]
    map_y[ys, xs] = m[:, 1, 0] * xs + m[:, 1, 1] * ys + m[:, 1, 2]
    face = cv2.remap(source.pyramid[level], map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return np.where(covered[..., None], face, 0.0).astype(np.float32), covered


def _target_to_source(source_points: np.ndarray, target_points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """``(T, 2, 3)`` affine maps from each target triangle to its source triangle (degenerate ones: nearest corner)."""
    dst = np.concatenate([target_points[triangles], np.ones((len(triangles), 3, 1))], axis=2)  # (T, 3, 3)
    src = source_points[triangles]  # (T, 3, 2)
    det = np.linalg.det(dst)
    safe = np.abs(det) > 1e-6
    maps = np.zeros((len(triangles), 2, 3))
    maps[safe] = np.transpose(np.linalg.solve(dst[safe], src[safe]), (0, 2, 1))
    maps[~safe, :, 2] = src[~safe, 0]
    return maps.astype(np.float32)


def lowered_oval(points: np.ndarray, forehead: float = 0.4) -> np.ndarray:
    """The face oval of ``(468, 2)`` landmarks with its forehead part pulled down to ``forehead``
    of its height above the eyebrows: ``(36, 2)`` float32.

    The top of FaceMesh's oval is the hairline, where a source's fringe or a
    target's hair would be pasted; the blend stops part way up the forehead.
    """
    oval = points[list(FACE_OVAL)].astype(np.float32)
    across = points[list(LEFT_EYE)].mean(0) - points[list(RIGHT_EYE)].mean(0)
    across = across / (float(np.linalg.norm(across)) or 1.0)
    up = np.array([across[1], -across[0]], dtype=np.float32)  # image y grows downwards
    brow = points[list(BROWS)].mean(0)
    height = (oval - brow) @ up
    return oval - np.outer(np.maximum(height, 0.0) * (1.0 - forehead), up).astype(np.float32)


def blend_mask(target_points: np.ndarray, size: tuple[int, int], feather: float = 0.05) -> np.ndarray:
    """``(H, W)`` float32 in [0, 1]: the face oval (forehead lowered, :func:`lowered_oval`) minus
    eyes and inner lips, feathered (the feather reaches about two sigmas past the
    oval; nothing beyond it changes).

    Args:
        feather: blur sigma as a share of the face's width.
    """
    width, height = size
    mask: np.ndarray = np.zeros((height, width), np.float32)
    cv2.fillPoly(mask, [np.round(lowered_oval(target_points)).astype(np.int32)], 1.0)
    for hole in (RIGHT_EYE, LEFT_EYE, INNER_LIPS):
        cv2.fillPoly(mask, [np.round(target_points[list(hole)]).astype(np.int32)], 0.0)
    face_width = float(np.ptp(target_points[list(FACE_OVAL), 0])) or 1.0
    sigma = max(1.0, feather * face_width)
    # Shrink by a sigma before the blur, so the feather is centred just inside the oval.
    mask = cv2.erode(mask, np.ones((3, 3), np.uint8), iterations=max(1, round(sigma)))
    blurred = cv2.GaussianBlur(mask, (0, 0), sigma)
    return np.where(blurred > 1.0 / 512, blurred, 0.0).astype(np.float32)


def _lab(pixels: np.ndarray) -> np.ndarray:
    """``(N, 3)`` float32 RGB 0-255 -> ``(N, 3)`` float32 CIE Lab (OpenCV, D65)."""
    rgb = np.clip(pixels / 255.0, 0, 1).astype(np.float32)[:, None, :]
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB)[:, 0, :]


def match_colour(warped: np.ndarray, target: np.ndarray, region: np.ndarray, where: np.ndarray | None = None,
                 step: int = 2) -> np.ndarray:
    """Move the warped face's Lab mean and deviation to the target's inside ``region`` (bool ``(H, W)``).

    Args:
        warped, target: ``(H, W, 3)`` float32 RGB in 0-255.
        where: bool ``(H, W)``, the pixels to convert (default all); the others are returned as they are.
        step: the statistics use every ``step``-th row and column of ``region``.

    Returns:
        ``(H, W, 3)`` float32 RGB in 0-255.
    """
    sampled = np.zeros_like(region)
    sampled[::step, ::step] = region[::step, ::step]
    if sampled.sum() < 16:
        return warped
    w, t = _lab(warped[sampled]), _lab(target[sampled])
    scale = t.std(0) / np.maximum(w.std(0), 1e-3)
    where = np.ones(region.shape, bool) if where is None else where
    lab = (_lab(warped[where]) - w.mean(0)) * scale + t.mean(0)
    out = warped.copy()
    out[where] = cv2.cvtColor(lab.astype(np.float32)[:, None, :], cv2.COLOR_LAB2RGB)[:, 0, :] * 255.0
    return out


NOSE_TIP, RIGHT_CHEEK, LEFT_CHEEK = 1, 234, 454


def frontalness(points: np.ndarray) -> float:
    """How frontal a face is, from ``(468, 2)`` landmarks: the nose tip's distance to the nearer
    cheek edge over its distance to the farther one (1 frontal, towards 0 in profile)."""
    near, far = sorted(float(np.linalg.norm(points[NOSE_TIP] - points[k])) for k in (RIGHT_CHEEK, LEFT_CHEEK))
    return near / far if far > 0 else 0.0


def profile_weight(points: np.ndarray, low: float = 0.2, high: float = 0.35) -> float:
    """Strength of the mesh-warp swap for a face's pose: 1 at ``high`` frontalness and above,
    fading (smoothstep) to 0 at ``low``. A frontal source warped onto a face in
    profile folds its far side over the background, so the swap fades out
    there instead (the solved landmarks are smooth, so the fade is too)."""
    x = float(np.clip((frontalness(points) - low) / (high - low), 0.0, 1.0))
    return x * x * (3 - 2 * x)


class BuiltinSwapper:
    """The mesh-warp swapper of this module, for one source identity.

    Args:
        source: the identity (:meth:`SourceFace.of`).
    """

    name = "builtin"

    def __init__(self, source: SourceFace) -> None:
        self.source = source

    def paste(self, target: np.ndarray, target_points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The new face for one target and where it goes.

        Args:
            target: ``(H, W, 3)`` float32 RGB 0-255, the (despilled) foreground around the face.
            target_points: ``(468, 2)`` solved landmarks in ``target``'s pixels.

        Returns:
            ``(face (H, W, 3) float32 RGB 0-255, mask (H, W) float32 in [0, 1])``.
        """
        height, width = target.shape[:2]
        warped, covered = warp_face(self.source, target_points, (width, height))
        mask = blend_mask(target_points, (width, height)) * profile_weight(target_points)
        matched = match_colour(warped, target, (mask > 0.5) & covered, where=(mask > 0) & covered)
        return np.where(covered[..., None], matched, target), mask  # outside the mesh: the target itself


def swap_face(target: np.ndarray, target_points: np.ndarray, source: SourceFace) -> np.ndarray:
    """Paste the source identity onto one face of a frame.

    Args:
        target: ``(H, W, 3)`` uint8 RGB frame. target_points: ``(468, 2)`` solved landmarks in it.
        source: the identity (:meth:`SourceFace.of`).

    Returns:
        ``(H, W, 3)`` uint8 RGB, the frame with the face replaced.
    """
    frame = target.astype(np.float32)
    face, mask = BuiltinSwapper(source).paste(frame, target_points)
    out = frame + (face - frame) * mask[..., None]
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)
