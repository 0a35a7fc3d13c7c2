"""The analysis pass: sample frames across the whole shot and estimate the screen."""

from __future__ import annotations

from models.screen import ScreenAnalysis, estimate_screen
from workers.colour import sws_colorspace
from workers.decode import sample_frames
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
    frames = sample_frames(probe.path, [probe.frame_pts[i] for i in picks], colorspace)
    return estimate_screen(frames, screen, balance)
