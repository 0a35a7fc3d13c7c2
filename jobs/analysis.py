"""The analysis pass: sample frames across the whole shot and estimate the screen."""

from __future__ import annotations

from models.screen import ScreenAnalysis, estimate_screen
from workers.colour import sws_colorspace
from workers.decode import sample_frames, sample_frames_in_pass
from workers.probe import MediaProbe

ANALYSIS_SAMPLES = 24


def analyse_screen(probe: MediaProbe, screen: str = "auto", balance: float = 0.5, samples: int = ANALYSIS_SAMPLES) -> ScreenAnalysis:
    """Estimate screen colour and clean plate from ``samples`` frames spread over the shot.

    Args:
        probe: the source's probe. screen: ``auto``, ``green``, ``blue`` or ``#RRGGBB``.
        balance: screen balance. samples: how many frames to decode (evenly spaced).

    Raises:
        InputError: no screen found (the message says to pass ``--screen``).
    """
    count = min(samples, probe.frame_count)
    picks = sorted({round(i * (probe.frame_count - 1) / max(1, count - 1)) for i in range(count)})
    colorspace = sws_colorspace(probe.video.colorspace, probe.video.height)
    pts = [probe.frame_pts[i] for i in picks]
    if seek_cost(probe.keyframes, picks) < probe.frame_count:
        frames = sample_frames(probe.path, pts, colorspace)
    else:
        frames = sample_frames_in_pass(probe.path, pts, colorspace)
    return estimate_screen(frames, screen, balance)


def seek_cost(keyframes: tuple[int, ...], picks: list[int]) -> int:
    """Frames decoded to fetch ``picks`` by seeking: from the keyframe at or before each pick.

    Compared with the frame count to choose between seeking and one decoding
    pass: with long GOPs (x264 allows 250 frames, some encoders more) and a
    short shot, seeking decodes more frames than the shot has.
    """
    cost, k = 0, 0
    for pick in picks:
        while k + 1 < len(keyframes) and keyframes[k + 1] <= pick:
            k += 1
        cost += pick - (keyframes[k] if keyframes and keyframes[k] <= pick else 0) + 1
    return cost
