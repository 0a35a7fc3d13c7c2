"""Face replacement in a job: the source check at ingest, the analysis pass and the whole-timeline solve.

Stages of a face job (inside ingest and render, so the Celery chain is unchanged):

- ingest: the source image is read and must hold one face (or ``--source-face-index``);
  it is copied into the job's storage.
- render, before any chunk: the analysis pass runs on the render actors over
  every chunk in parallel (:meth:`workers.render.ChunkRenderer.analyse`); its
  per-frame faces are merged into one table, kept in storage under the
  source's fingerprint (``analysis/faces/<fingerprint>.npz``), so a later job on
  the same footage with other swap options skips the pass. The solve
  (:func:`models.face_solve.solve_faces`) runs on the whole table and writes
  each chunk's solved targets, pre-roll included.
- render: the chunks render with their solved targets.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from sqlalchemy.orm import Session

from jobs.job_plan import FacePlan
from jobs.layout import JobLayout, face_analysis_cache
from jobs.options import RenderOptions
from jobs.tables import Chunk, Job, Stage
from models.errors import InputError, MediaError
from models.face_analysis import ANALYSIS_VERSION, FaceTable
from models.face_solve import SolveParams, solve_faces
from models.registry import spec_of
from workers.faces import (
    load_analyser,
    load_arrays,
    read_source_image,
    reference_look,
    require_swapper_models,
    save_arrays,
    source_face,
)
from workers.runner import ChunkEvents, ChunkRunner
from workers.specs import ChunkSpec, FaceSpec
from workers.storage import Storage


def source_fingerprint(path: str) -> str:
    """A key for the analysis of a source file: its size, first and last MiB, and the analysis version and models.

    Cheap on a 100 GB film, and any re-encode or edit changes it.
    """
    digest = hashlib.sha256(f"v{ANALYSIS_VERSION}".encode())
    for name in ("yunet", "facemesh_468"):
        digest.update(str(spec_of(name).sha256).encode())
    size = os.path.getsize(path)
    digest.update(str(size).encode())
    with open(path, "rb") as f:
        digest.update(f.read(1 << 20))
        f.seek(max(0, size - (1 << 20)))
        digest.update(f.read(1 << 20))
    return digest.hexdigest()[:32]


def store_source_face(job: Job, options: RenderOptions, storage: Storage, frame_count: int) -> FacePlan | None:
    """Check the face options and the source identity image; copy the image into the job's storage (ingest).

    Args:
        frame_count: frames in the shot (the reference frame must be one of them).

    Returns:
        The plan's ``faces`` entry, or None for a keying-only job.

    Raises:
        InputError: a reference frame past the shot, an unreadable image, no face, or several faces without an
            index; a reference image without the face asked for.
        ModelError: a face model is missing or corrupted.
    """
    if options.face is None:
        return None
    if options.face_mode == "reference" and options.reference_image is None and options.reference_frame >= frame_count:
        raise InputError(f"--reference-frame {options.reference_frame} is past the shot's last frame ({frame_count - 1})",
                         "pick a frame inside the shot")
    require_swapper_models(options.swapper)
    rgb = read_source_image(options.face)
    analyser = load_analyser(options.providers)
    source_face(rgb, analyser, options.source_face_index, f"the source image {options.face}")
    key = JobLayout(job.id).face_source(Path(options.face).suffix.lower())
    storage.put_file(options.face, key)
    look = None
    if options.reference_image is not None:
        embedding = reference_look(options.reference_image, analyser, options.reference_face)
        look = tuple(round(float(v), 6) for v in embedding)
    return FacePlan(source_key=key, fingerprint=source_fingerprint(job.input_uri), reference_look=look)


def analysis_part_key(job: Job, chunk: Chunk) -> str:
    """Where the analysis pass writes one chunk's faces."""
    return JobLayout(job.id).face_analysis(chunk.index)


def solved_key(job: Job, chunk: Chunk) -> str:
    """Where one chunk's solved targets are stored."""
    return JobLayout(job.id).faces_solved(chunk.index)


def face_spec(job: Job, chunk: Chunk, options: RenderOptions) -> FaceSpec | None:
    """The chunk's :class:`workers.specs.FaceSpec` (solved key set once the solve ran), or None."""
    faces = FacePlan.of(job)
    if faces is None:
        return None
    return FaceSpec(source_key=faces.source_key, source_face=options.source_face_index, swapper=options.swapper,
                    key=not options.no_key, analysis_key=analysis_part_key(job, chunk),
                    solved_key=solved_key(job, chunk) if faces.solved else None)


def faces_pending(job: Job) -> bool:
    """Whether the job replaces faces and has not solved them yet."""
    faces = FacePlan.of(job)
    return faces is not None and not faces.solved


def _faces_plan(job: Job) -> FacePlan:
    """The face plan of a job that replaces faces.

    Raises:
        MediaError: the job's plan has no face entry (it was ingested without ``--face``).
    """
    faces = FacePlan.of(job)
    if faces is None:
        raise MediaError(f"job {job.id} has no face plan", "render it again with --face")
    return faces


def _analysis(job: Job, storage: Storage, pool: ChunkRunner, specs: list[ChunkSpec],
              events: ChunkEvents) -> tuple[FaceTable | None, bool]:
    """``(the face table of the whole shot, whether it was reused)``: from the cache, or from the
    analysis pass (table None: the pass was stopped)."""
    cache = face_analysis_cache(_faces_plan(job).fingerprint)
    if storage.exists(cache):
        return FaceTable.from_arrays(load_arrays(storage, cache)), True
    results = pool.run(specs, events, task="analyse")
    if len(results) < len(specs):
        return None, False
    table = FaceTable.concat(FaceTable.from_arrays(load_arrays(storage, s.faces.analysis_key)) for s in specs if s.faces)
    save_arrays(storage, cache, table.to_arrays())
    storage.delete(JobLayout(job.id).face_analysis_parts)
    return table, False


def analyse_and_solve(session: Session, job: Job, storage: Storage, pool: ChunkRunner, specs: list[ChunkSpec],
                      events: ChunkEvents) -> bool:
    """Run (or reuse) the analysis pass, solve the whole timeline and store each chunk's targets.

    Args:
        specs: every chunk's spec (their ``faces.analysis_key`` is where the pass writes).
        events: what the runner tells as the pass goes (logs, stop check).

    Returns:
        False if the pass was stopped (cancel or pause) before it finished.

    Raises:
        InputError: the reference frame has no such face.
    """
    options = RenderOptions.model_validate(job.options)
    job.stage = Stage.ANALYSE
    session.commit()
    started = time.monotonic()
    table, reused = _analysis(job, storage, pool, specs, events)
    if table is None:
        return False
    analysis_s = time.monotonic() - started
    plan = _faces_plan(job)
    look = plan.reference_look
    solved = solve_faces(table, SolveParams(mode=options.face_mode, reference_frame=options.reference_frame,
                                            reference_face=options.reference_face,
                                            reference_look=None if look is None else np.asarray(look, dtype=np.float32)))
    for chunk in job.chunks:
        save_arrays(storage, solved_key(job, chunk), solved.between(chunk.preroll_start, chunk.frame_end).to_arrays())
    replace(plan, solved=True, stats=solved.stats, analysis_reused=reused, analysis_s=round(analysis_s, 3),
            solve_s=round(time.monotonic() - started - analysis_s, 3)).store(job)
    job.stage = Stage.RENDER
    session.commit()
    return True
