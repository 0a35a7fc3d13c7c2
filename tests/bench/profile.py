"""Where a chunk's render time goes: pyinstrument over :class:`workers.render.ChunkRenderer`.

The chunk is rendered in this process (no Ray), so the profile sees decode,
plane conversion, the keyer (its fused CPU loops, or the onnxruntime session
where the graph runs), and the encoder. Time is
attributed to the innermost category on each sampled call stack.
"""

from __future__ import annotations

from pathlib import Path

from pyinstrument import Profiler

from jobs.chunk_specs import chunk_spec
from jobs.db import make_engine, session_factory
from jobs.ingest import ingest_job
from jobs.options import RenderOptions
from jobs.pipeline import cleanup_job, create_job
from workers.render import ChunkRenderer
from workers.storage import Storage

# Innermost matching function name -> category.
CATEGORIES: dict[str, str] = {
    "decode_video": "decode (PyAV, frame threads)",
    "in_working_format": "plane copies / pixel-format conversion",
    "copy_planes": "plane copies / pixel-format conversion",
    "rgb_to_planes": "plate RGB -> Y'CbCr",
    "planes_frame": "plane copies / pixel-format conversion",
    "frame_at": "plate read",
    "run_with_iobinding": "keyer model (onnxruntime session run)",
    # The fused keyer's numba loops (pyinstrument sees each compiled call as a frame of its own name).
    "_guide": "keyer: guide (fused, luma over the chroma footprint)",
    **dict.fromkeys(("_half_means", "_inverse_light", "_raw_matte", "_temporal", "_guided"),
                    "keyer: matte (fused: key, light, guided filter)"),
    **dict.fromkeys(("_chroma", "_composite"), "keyer: composite (fused: despill, luma refinement, mix)"),
    "_stack": "batching (stack frames into the batch arrays)",
    "write": "encode (libx264)",
    "encode": "encode (libx264)",
    "close": "encode (libx264)",
}


def _attribute(frame, category: str, totals: dict[str, float]) -> None:  # noqa: ANN001 - pyinstrument Frame
    category = CATEGORIES.get(frame.function, category)
    self_time = frame.time - sum(child.time for child in frame.children)
    totals[category] = totals.get(category, 0.0) + self_time
    for child in frame.children:
        _attribute(child, category, totals)


def profile_chunk(source: Path, plate: str, workdir: Path, threads: int = 1) -> tuple[int, float, dict[str, float]]:
    """Render the first chunk of ``source`` in-process under pyinstrument.

    Returns:
        ``(frames, wall seconds, seconds per category)``.
    """
    engine = make_engine(f"sqlite:///{workdir / 'profile.sqlite'}")
    storage = Storage(str(workdir / "storage"))
    with session_factory(engine)() as session:
        job = create_job(session, str(source), str(workdir / "profile.mp4"), RenderOptions(background=plate))
        ingest_job(session, job, storage)
        spec = chunk_spec(job, job.chunks[0], storage)
        renderer = ChunkRenderer(threads, overlap=False)  # every stage in this thread, where the profiler looks
        renderer.keyer_for(spec)
        profiler = Profiler(interval=0.001)
        profiler.start()
        result = renderer.render(spec)
        session_profile = profiler.stop()
        cleanup_job(job, storage)
    engine.dispose()
    totals: dict[str, float] = {}
    _attribute(session_profile.root_frame(), "other (Python, spec handling)", totals)
    return result.frames + result.preroll_frames, session_profile.duration, totals
