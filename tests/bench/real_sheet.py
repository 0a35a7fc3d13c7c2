"""A real clip's matte, close up: crops at the hair line and the shirt edge, for checking by eye.

The clip (``greenscreen/cremad_1001_DFA_HAP_XX.flv``) is keyed by a whole job
with a matte output; the PNG shows, for one frame, source | matte | composite
at the top of the head and where the shoulder meets the screen, each crop
enlarged 4x with nearest-neighbour so single pixels stay visible.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from tests.bench.jobrun import run_keying_job
from tests.conftest import media
from workers.contact_sheet import frames_at, write_png
from workers.pool import RenderPool

CLIP = "greenscreen/cremad_1001_DFA_HAP_XX.flv"
CROP, ZOOM = 80, 4


def _crop(image: np.ndarray, centre: tuple[int, int]) -> np.ndarray:
    h, w = image.shape[:2]
    y0 = max(0, min(h - CROP, centre[0] - CROP // 2))
    x0 = max(0, min(w - CROP, centre[1] - CROP // 2))
    return cv2.resize(image[y0 : y0 + CROP, x0 : x0 + CROP], (CROP * ZOOM, CROP * ZOOM), interpolation=cv2.INTER_NEAREST)


def edge_points(matte: np.ndarray) -> dict[str, tuple[int, int]]:
    """``(row, column)`` of the hair line (just below the top of the foreground) and of the
    left shirt edge (the first foreground pixel at 85 % of the height), from an ``(H, W)`` matte."""
    rows, cols = np.nonzero(matte > 128)
    top = int(rows.min())
    low = int(0.85 * matte.shape[0])
    return {"hair line": (top + CROP // 3, int(cols[rows == top].mean())),
            "shirt edge": (low, int(np.nonzero(matte[low] > 128)[0].min()))}


def real_clip_sheet(work: Path, pool: RenderPool, plate: str, frame: int = 30) -> Path:
    """Render the clip with its matte and write the close-up sheet; returns the PNG path."""
    work.mkdir(parents=True, exist_ok=True)
    result, matte = work / "real.mp4", work / "real_matte.mp4"
    run_keying_job(media(CLIP), result, work / "job", pool, background=plate, matte_out=str(matte))
    source, alpha, composite = (frames_at(str(p), [frame])[0] for p in (media(CLIP), matte, result))
    points = edge_points(alpha[..., 0])
    rows = [np.hstack([_crop(img, centre) for img in (source, alpha, composite)]) for centre in points.values()]
    sheet = np.vstack(rows)
    for r, name in enumerate(points):
        cv2.putText(sheet, name, (8, r * CROP * ZOOM + 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 2, cv2.LINE_AA)
    path = work / "real_clip_edges.png"
    write_png(str(path), sheet)
    return path
