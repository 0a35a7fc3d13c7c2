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


def output_tags(primaries: int, trc: int, matrix: int, colour_range: int, height: int,
                full_range: bool) -> tuple[int, int, int, int]:
    """The colour tags every output is written with: the source's, and for each tag it leaves
    unspecified the standard's default for its size, written explicitly (the convention
    :func:`sws_colorspace` decodes with): BT.709 from 720 lines up; below, SMPTE 170M
    (BT.601 525-line) up to 480 lines and BT.470BG (BT.601 625-line) above; TV range unless
    the pixel format is full range. FFmpeg enum values (libavutil/pixfmt.h).

    Returns:
        ``(primaries, transfer, matrix, range)``.
    """
    if height >= 720:
        defaults = (1, 1, 1)
    else:
        defaults = (6, 6, 6) if height <= 480 else (5, 6, 5)
    tags = [value if value != UNSPECIFIED else default for value, default in zip((primaries, trc, matrix), defaults)]
    return tags[0], tags[1], tags[2], colour_range or (2 if full_range else 1)


def sws_colorspace(avcol_spc: int, height: int) -> int:
    """The swscale matrix constant for a stream's colour matrix tag and frame height."""
    if avcol_spc in _SWS_BY_AVCOL_SPC:
        return _SWS_BY_AVCOL_SPC[avcol_spc]
    return 1 if height >= 720 else 5


# AVColorSpace names (libavutil/pixfmt.h, av_color_space_name); PyAV's Colorspace enum
# holds only swscale's subset.
_MATRIX_NAMES = {0: "gbr (RGB)", 1: "bt709", 2: "unspecified", 4: "fcc", 5: "bt470bg", 6: "smpte170m (BT.601)",
                 7: "smpte240m", 8: "ycgco", 9: "bt2020nc", 10: "bt2020c", 11: "smpte2085", 14: "ictcp"}
_RANGE_NAMES = {0: "unspecified", 1: "tv (limited)", 2: "pc (full)"}


def colour_tag_names(primaries: int, trc: int, matrix: int, colour_range: int) -> str:
    """The four colour tags of a stream in FFmpeg's words, e.g. ``primaries bt709, transfer
    bt709, matrix bt709, range tv (limited)`` (from PyAV's enums and libavutil/pixfmt.h)."""
    from av.video.reformatter import ColorPrimaries, ColorTrc

    def name(enum: type, value: int) -> str:
        try:
            return enum(value).name.lower()
        except ValueError:
            return f"value {value}"

    return (f"primaries {name(ColorPrimaries, primaries)}, transfer {name(ColorTrc, trc)}, "
            f"matrix {_MATRIX_NAMES.get(matrix, f'value {matrix}')}, range {_RANGE_NAMES.get(colour_range, f'value {colour_range}')}")
