"""What the dashboard and the API say about a job beyond its columns: its settings as a person
reads them, and its chunks laid out on a timeline (whether a retry can help is the job domain's
rule, :func:`jobs.controls.retry_helps`).

Each is decided here once, from what the job's row records, and used by the
API's schemas, its controls and the dashboard's templates alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePath
from typing import Any

from jobs.tables import Job, State, as_utc
from models.keyer_params import KeyerParams


def keyer_values(job: Job) -> dict[str, Any]:
    """The keyer controls the job renders with: its plan's (as used), else the defaults with the
    job's ``keyer`` overrides; a stored value that is out of range gives the defaults."""
    if job.plan and job.plan.get("keyer"):
        return KeyerParams.from_dict(job.plan["keyer"]).to_dict()
    try:
        return KeyerParams.from_overrides(dict((job.options or {}).get("keyer") or {})).to_dict()
    except ValueError:
        return KeyerParams().to_dict()


def job_settings(job: Job) -> list[tuple[str, str]]:
    """The job's settings as ``(label, value)`` rows for its page: plate, codec, crf/preset,
    screen, chunking, matte, faces (the keyer's controls come from :func:`keyer_values`)."""
    options = job.options or {}
    name = lambda path: PurePath(path).name if path else "–"  # noqa: E731
    codec = options.get("codec", "h264")
    rows = [("Plate", name(options.get("background"))), ("Codec", codec)]
    if codec in ("h264", "h265"):
        rows.append(("CRF / preset", f"{options.get('crf', 18)} / {options.get('preset', 'veryfast')}"))
    chunking = (f"{options['chunk_frames']} frames" if options.get("chunk_frames")
                else f"{options['chunk_seconds']:g} s" if options.get("chunk_seconds") else "auto")
    rows += [("Screen", str(options.get("screen", "auto"))), ("Chunks of", chunking),
             ("Matte", "yes" if options.get("matte_out") else "no"), ("Providers", str(options.get("providers", "auto")))]
    if options.get("no_key"):
        rows.append(("Key", "off (faces only)"))
    if options.get("face"):
        faces = f"{name(options.get('face'))}, {options.get('face_mode', 'largest')}, swapper {options.get('swapper', 'builtin')}"
        if options.get("face_mode") == "reference":
            faces += (f", reference {name(options['reference_image'])}" if options.get("reference_image")
                      else f", reference frame {options.get('reference_frame', 0)}")
        rows.append(("Faces", faces))
    return rows


@dataclass(frozen=True)
class Bar:
    """One chunk on the timeline: where it starts and ends, in seconds after the first chunk's start."""

    index: int
    state: str
    start_s: float
    end_s: float
    frames: str
    seconds: float | None


@dataclass(frozen=True)
class Timeline:
    """A job's chunks as a Gantt chart: a lane per worker (the render actor, ``host:pid``, or the
    Ray node while it runs), each chunk a bar from its start to its end.

    Attributes:
        lanes: ``(lane name, bars)`` in order of their first start. span_s: seconds from the first
            start to the last end (at least 1). started: when the first chunk started (UTC).
    """

    lanes: list[tuple[str, list[Bar]]]
    span_s: float
    started: datetime | None


def chunk_timeline(job: Job, now: datetime) -> Timeline:
    """The job's chunks that have started, laid out by worker (``now``: the end of running ones, aware)."""
    placed: list[tuple[str, Bar]] = []
    starts = [as_utc(c.started_at) for c in job.chunks if c.started_at is not None]
    origin = min((s for s in starts if s is not None), default=None)
    if origin is None:
        return Timeline([], 1.0, None)
    for chunk in job.chunks:
        start = as_utc(chunk.started_at)
        if start is None:
            continue
        end = as_utc(chunk.finished_at) if chunk.state == State.DONE else None
        end = end or (now if chunk.state == State.RUNNING else as_utc(chunk.heartbeat_at) or start)
        lane = chunk.worker or chunk.node_host or "–"
        placed.append((lane, Bar(chunk.index, chunk.state.value, (start - origin).total_seconds(),
                                 max((end - origin).total_seconds(), (start - origin).total_seconds()),
                                 f"{chunk.frame_start}–{chunk.frame_end - 1}", chunk.seconds)))
    lanes: dict[str, list[Bar]] = {}
    for lane, bar in sorted(placed, key=lambda item: item[1].start_s):
        lanes.setdefault(lane, []).append(bar)
    span = max(1.0, max(bar.end_s for _, bar in placed))
    return Timeline(list(lanes.items()), span, origin)
