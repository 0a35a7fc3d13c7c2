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
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from jobs.layout import JobLayout, face_analysis_cache
from jobs.options import RenderOptions
from jobs.tables import Chunk, Job, Stage
from models.errors import InputError
from models.face_analysis import ANALYSIS_VERSION, FaceTable
from models.face_solve import SolveParams, solve_faces
from models.registry import spec_of
from workers.faces import (
    load_analyser, load_arrays, read_source_image, reference_look, require_swapper_models, save_arrays, source_face,
)
from workers.pool import PoolEvents, RenderPool
from workers.specs import ChunkSpec, FaceSpec
from workers.storage import Storage


def source_fingerprint(path: str) -> str:
    """A key for the analysis of a source file: its size, first and last MiB, and the analysis version and models.

    Cheap on a 100 GB film, and any re-encode or edit changes it.
    """
    digest = hashlib.sha256(f"v{ANALYSIS_VERSION}".encode())
    for name in ("yunet", "facemesh_468"):
        digest.update(spec_of(name).sha256.encode())
    size = os.path.getsize(path)
    digest.update(str(size).encode())
    with open(path, "rb") as f:
        digest.update(f.read(1 << 20))
        f.seek(max(0, size - (1 << 20)))
        digest.update(f.read(1 << 20))
    return digest.hexdigest()[:32]


def store_source_face(job: Job, options: RenderOptions, storage: Storage, frame_count: int) -> dict | None:
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
    faces = {"source_key": key, "fingerprint": source_fingerprint(job.input_uri), "solved": False}
    if options.reference_image is not None:
        look = reference_look(options.reference_image, analyser, options.reference_face)
        faces["reference_look"] = [round(float(v), 6) for v in look]
    return faces


def analysis_part_key(job: Job, chunk: Chunk) -> str:
    """Where the analysis pass writes one chunk's faces."""
    return JobLayout(job.id).face_analysis(chunk.index)


def solved_key(job: Job, chunk: Chunk) -> str:
    """Where one chunk's solved targets are stored."""
    return JobLayout(job.id).faces_solved(chunk.index)


def face_spec(job: Job, chunk: Chunk, options: RenderOptions) -> FaceSpec | None:
    """The chunk's :class:`workers.specs.FaceSpec` (solved key set once the solve ran), or None."""
    faces = (job.plan or {}).get("faces")
    if not faces:
        return None
    return FaceSpec(source_key=faces["source_key"], source_face=options.source_face_index, swapper=options.swapper,
                    key=not options.no_key, analysis_key=analysis_part_key(job, chunk),
                    solved_key=solved_key(job, chunk) if faces.get("solved") else None)


def faces_pending(job: Job) -> bool:
    """Whether the job replaces faces and has not solved them yet."""
    faces = (job.plan or {}).get("faces")
    if not faces:
        return False
    return not faces.get("solved")


def _faces_plan(job: Job) -> dict[str, Any]:
    """The ``faces`` entry of the plan of a job that replaces faces (:func:`faces_pending` was asked)."""
    assert job.plan is not None, f"job {job.id} has no plan"  # faces are solved only after planning
    return job.plan["faces"]


def _analysis(job: Job, storage: Storage, pool: RenderPool, specs: list[ChunkSpec],
              events: PoolEvents) -> tuple[FaceTable | None, bool]:
    """``(the face table of the whole shot, whether it was reused)``: from the cache, or from the
    analysis pass (table None: the pass was stopped)."""
    cache = face_analysis_cache(_faces_plan(job)["fingerprint"])
    if storage.exists(cache):
        return FaceTable.from_arrays(load_arrays(storage, cache)), True
    results = pool.run(specs, events, task="analyse")
    if len(results) < len(specs):
        return None, False
    table = FaceTable.concat(FaceTable.from_arrays(load_arrays(storage, s.faces.analysis_key)) for s in specs if s.faces)
    save_arrays(storage, cache, table.to_arrays())
    storage.delete(JobLayout(job.id).face_analysis_parts)
    return table, False


def analyse_and_solve(session: Session, job: Job, storage: Storage, pool: RenderPool, specs: list[ChunkSpec],
                      events: PoolEvents) -> bool:
    """Run (or reuse) the analysis pass, solve the whole timeline and store each chunk's targets.

    Args:
        specs: every chunk's spec (their ``faces.analysis_key`` is where the pass writes).
        events: pool callbacks (logs, stop check).

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
    look = _faces_plan(job).get("reference_look")
    solved = solve_faces(table, SolveParams(mode=options.face_mode, reference_frame=options.reference_frame,
                                            reference_face=options.reference_face,
                                            reference_look=None if look is None else np.asarray(look, dtype=np.float32)))
    for chunk in job.chunks:
        save_arrays(storage, solved_key(job, chunk), solved.between(chunk.preroll_start, chunk.frame_end).to_arrays())
    _faces_plan(job).update(solved=True, stats=solved.stats, analysis_reused=reused, analysis_s=round(analysis_s, 3),
                            solve_s=round(time.monotonic() - started - analysis_s, 3))
    flag_modified(job, "plan")
    job.stage = Stage.RENDER
    session.commit()
    return True
