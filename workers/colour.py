"""Colour tags and RGB <-> YUV conversion matrices for decode and encode.

FFmpeg stream tags use the AVColorSpace enum; swscale takes SWS_CS_* values.
An unspecified matrix is taken as BT.709 for HD (height >= 720) and BT.601
below, the convention of FFmpeg and of most players, so what we decode with is
what a player shows, and we encode back with the same matrix.
"""

from __future__ import annotations

# AVColorSpace -> SWS_CS_* (libswscale/swscale.h)
_SWS_BY_AVCOL_SPC = {1: 1, 4: 4, 5: 5, 6: 5, 7: 7, 9: 9, 10: 9}
UNSPECIFIED = 2


def sws_colorspace(avcol_spc: int, height: int) -> int:
    """The swscale matrix constant for a stream's colour matrix tag and frame height."""
    if avcol_spc in _SWS_BY_AVCOL_SPC:
        return _SWS_BY_AVCOL_SPC[avcol_spc]
    return 1 if height >= 720 else 5
