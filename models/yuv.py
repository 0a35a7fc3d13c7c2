"""Y'CbCr arithmetic: the matrices between RGB and the coded planes the keyer works on.

The keyer works on the decoded planes themselves (Y' at full resolution, Cb/Cr
at the chroma resolution, 4:2:0 or 4:4:4), not on RGB: a colour-difference key
is linear in R'G'B' with weights summing to zero, so it depends on chroma only
(see :meth:`YuvMatrix.chroma_form`), and 4:2:0 footage carries chroma at a
quarter of the pixels.

Coefficients: Rec. ITU-R BT.601 and BT.709 (Kr, Kb); BT.2020 non-constant
luminance; SMPTE 240M; FCC as in libswscale (``sws_getCoefficients``). Code
values: limited ("MPEG") range Y' 16-235 and Cb/Cr 16-240 (scale 219 and 224),
or full ("JPEG") range 0-255; chroma is centred on 128 in both.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# SWS_CS_* constant (libswscale/swscale.h) -> (Kr, Kb).
_KR_KB: dict[int, tuple[float, float]] = {
    1: (0.2126, 0.0722),  # ITU-R BT.709
    4: (0.30, 0.11),  # FCC
    5: (0.299, 0.114),  # ITU-R BT.601 / SMPTE 170M
    7: (0.212, 0.087),  # SMPTE 240M
    9: (0.2627, 0.0593),  # ITU-R BT.2020 non-constant luminance
}


@dataclass(frozen=True)
class YuvMatrix:
    """How R'G'B' in [0, 1] maps to 8-bit Y'CbCr code values.

    Attributes:
        kr, kb: luma coefficients of red and blue (``kg = 1 - kr - kb``).
        full_range: True for full-range ("JPEG") code values, False for limited.
    """

    kr: float = 0.2126
    kb: float = 0.0722
    full_range: bool = False

    @classmethod
    def from_sws(cls, sws_colorspace: int, full_range: bool = False) -> "YuvMatrix":
        """The matrix for a swscale colourspace constant (unknown values: BT.601, as swscale)."""
        kr, kb = _KR_KB.get(sws_colorspace, _KR_KB[5])
        return cls(kr, kb, full_range)

    @property
    def luma_weights(self) -> np.ndarray:
        """``(3,)`` float64 ``(kr, kg, kb)``."""
        return np.array([self.kr, 1.0 - self.kr - self.kb, self.kb])

    @property
    def luma_scale(self) -> float:
        """Code values per unit of Y' (219 limited, 255 full)."""
        return 255.0 if self.full_range else 219.0

    @property
    def luma_offset(self) -> float:
        """Code value of black (16 limited, 0 full)."""
        return 0.0 if self.full_range else 16.0

    @property
    def chroma_scale(self) -> float:
        """Code values per unit of Cb/Cr (224 limited, 255 full)."""
        return 255.0 if self.full_range else 224.0

    def rgb_to_ypbpr(self) -> np.ndarray:
        """``(3, 3)`` float64 matrix from R'G'B' to ``(Y', Pb, Pr)`` (Pb, Pr in [-0.5, 0.5])."""
        luma = self.luma_weights
        pb = (np.array([0.0, 0.0, 1.0]) - luma) / (2.0 * (1.0 - self.kb))
        pr = (np.array([1.0, 0.0, 0.0]) - luma) / (2.0 * (1.0 - self.kr))
        return np.stack([luma, pb, pr])

    def ypbpr_to_rgb(self) -> np.ndarray:
        """``(3, 3)`` float64 inverse of :meth:`rgb_to_ypbpr`."""
        return np.linalg.inv(self.rgb_to_ypbpr())

    def rgb_to_codes(self, rgb: np.ndarray) -> np.ndarray:
        """``(..., 3)`` R'G'B' in [0, 1] -> ``(..., 3)`` float64 code values ``(Y, Cb - 128, Cr - 128)``.

        Chroma is returned *centred* (0 = neutral), the form the keyer graph uses.
        """
        ypbpr = np.asarray(rgb, dtype=np.float64) @ self.rgb_to_ypbpr().T
        scale = np.array([self.luma_scale, self.chroma_scale, self.chroma_scale])
        return ypbpr * scale + np.array([self.luma_offset, 0.0, 0.0])

    def chroma_form(self, weights: np.ndarray) -> np.ndarray:
        """Coefficients ``(c_b, c_r)`` with ``w . RGB = c_b (Cb - 128) + c_r (Cr - 128)``.

        Holds exactly when ``weights`` sum to zero (any colour-difference key):
        ``RGB = Y' (1, 1, 1) + Pb m_b + Pr m_r``, and ``w . (1, 1, 1) = 0``.

        Args:
            weights: ``(3,)`` RGB weights summing to zero.

        Returns:
            ``(2,)`` float64, per centred code value.
        """
        to_rgb = self.ypbpr_to_rgb()
        w = np.asarray(weights, dtype=np.float64)
        return np.array([w @ to_rgb[:, 1], w @ to_rgb[:, 2]]) / self.chroma_scale


def rgb_to_planes(rgb: np.ndarray, matrix: YuvMatrix, subsampled: bool) -> tuple[np.ndarray, np.ndarray]:
    """Convert an image to the keyer's plane layout.

    Args:
        rgb: ``(H, W, 3)`` uint8 R'G'B'.
        matrix: the target matrix and range.
        subsampled: True for 4:2:0 (H and W even; chroma is the 2x2 box average).

    Returns:
        ``(Y, CbCr)``: ``(H, W)`` uint8 and ``(2, Hc, Wc)`` uint8 with ``Hc, Wc = H/2, W/2`` or ``H, W``.
    """
    scale = np.array([matrix.luma_scale, matrix.chroma_scale, matrix.chroma_scale])
    m = np.zeros((3, 4), np.float32)
    m[:, :3] = matrix.rgb_to_ypbpr() * scale[:, None] / 255.0
    m[:, 3] = [matrix.luma_offset + 0.5, 128.5, 128.5]
    ycc = cv2.transform(rgb.astype(np.float32), m)
    ycc = np.clip(ycc, 0, 255)
    luma = ycc[..., 0].astype(np.uint8)
    chroma = ycc[..., 1:]
    if subsampled:
        chroma = cv2.resize(chroma, (rgb.shape[1] // 2, rgb.shape[0] // 2), interpolation=cv2.INTER_AREA)
    return luma, np.ascontiguousarray(np.moveaxis(chroma.astype(np.uint8), -1, 0))


def planes_to_rgb_float(luma: np.ndarray, chroma: np.ndarray, matrix: YuvMatrix) -> np.ndarray:
    """Inverse of :func:`rgb_to_planes` (chroma upsampled bilinearly), unquantised.

    Args:
        luma: ``(H, W)`` uint8. chroma: ``(2, Hc, Wc)`` uint8 (Cb, Cr), 4:2:0 or 4:4:4.

    Returns:
        ``(H, W, 3)`` float32 R'G'B' in [0, 1].
    """
    height, width = luma.shape
    cb = cv2.resize(chroma[0].astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
    cr = cv2.resize(chroma[1].astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
    y = (luma.astype(np.float32) - matrix.luma_offset) / matrix.luma_scale
    pbpr = np.stack([cb - 128.0, cr - 128.0], axis=-1) / matrix.chroma_scale
    rgb = np.concatenate([y[..., None], pbpr], axis=-1) @ matrix.ypbpr_to_rgb().T.astype(np.float32)
    return np.clip(rgb, 0.0, 1.0)


def planes_to_rgb(luma: np.ndarray, chroma: np.ndarray, matrix: YuvMatrix) -> np.ndarray:
    """Inverse of :func:`rgb_to_planes` (chroma upsampled bilinearly): ``(H, W, 3)`` uint8 R'G'B'.

    Args:
        luma: ``(H, W)`` uint8. chroma: ``(2, Hc, Wc)`` uint8 (Cb, Cr).
    """
    return (planes_to_rgb_float(luma, chroma, matrix) * 255.0 + 0.5).astype(np.uint8)
