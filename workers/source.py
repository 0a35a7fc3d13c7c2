"""What a job's source is: a movie file or an image sequence, with its sound or another file's."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

from workers.image_sequence import probe_sequence, sequence_pattern
from workers.probe import MediaProbe, probe_audio, probe_video


def probe_source(path: str, frame_rate: Fraction | None = None, colourspace: str | None = None,
                 audio: str | None = None) -> MediaProbe:
    """Probe a job's source: an image sequence when ``path`` names one (``shot.%04d.exr``,
    ``shot.####.dpx``: :func:`workers.image_sequence.probe_sequence`, with ``frame_rate`` and
    ``colourspace``), else a movie (:func:`workers.probe.probe_video`). ``audio``: a file whose
    sound replaces the source's (a sequence has none of its own).

    Raises:
        InputError: the source or the sound file is unusable (the message names the problem).
    """
    probe = probe_sequence(path, frame_rate, colourspace) if sequence_pattern(path) else probe_video(path)
    if audio is not None:
        probe = replace(probe, audio=probe_audio(audio), audio_path=audio)
    return probe
