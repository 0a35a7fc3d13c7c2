"""The render pool's scheduling, on real Ray with scripted actors: every chunk's result comes back in
order; an actor whose process dies is replaced and its chunk tried again, with attempts counted over
the chunk's life, until ``max_attempts`` makes it dead; a permanent error stops dispatching and is
raised once the chunks in flight are in; an unexpected error keeps the actor's traceback.

A scripted actor does no video work: each chunk's ``input_key`` says what it does ("ok", "die once",
"die", "bad input", "bug"), and the attempts it saw are counted in a file, so a replacement actor
knows what its predecessor did. A death is the actor's process exiting (``os._exit``), as a crash."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
import ray

from models.errors import ChunkDead, InputError, MattefarmError, error_kind
from workers.encode import EncodeSettings
from workers.pool import PoolShape, RenderPool
from workers.runner import ActorSlot, PoolEvents
from workers.specs import ChunkSpec, RenderResult


@ray.remote(num_cpus=0)
class ScriptedActor:
    """A stand-in render actor that follows each chunk's script."""

    def __init__(self, threads: int = 0) -> None:
        self.threads = threads

    def render(self, spec: ChunkSpec, progress_actor: Any | None = None) -> RenderResult:
        counter = Path(spec.storage_root) / f"attempts_{spec.index}"
        with counter.open("a") as seen:
            seen.write("x")
        attempt = len(counter.read_text())
        script = spec.input_key
        if script == "die" or (script == "die once" and attempt == 1):
            os._exit(1)  # the actor's process crashes mid-chunk
        if script == "bad input":
            raise InputError(f"chunk {spec.index} is unreadable", "re-encode the source")
        if script == "bug":
            return {}["missing"]  # a KeyError: a bug, not a user's mistake
        time.sleep(0.2 if script == "slow" else 0.02)
        for done in range(1, spec.frame_count + 1):
            if progress_actor is not None:
                progress_actor.put_nowait.remote((spec.job_id, spec.index, done))
        return RenderResult(spec.job_id, spec.index, spec.frame_count, 0, 0.02, "CPU", f"scripted:{os.getpid()}")

    def analyse(self, spec: ChunkSpec, progress_actor: Any | None = None) -> RenderResult:
        return self.render(spec, progress_actor)


def _spec(root: Path, index: int, script: str, frames: int = 3) -> ChunkSpec:
    return ChunkSpec(job_id="job", index=index, storage_root=str(root), input_key=script, output_key="",
                     matte_key=None, frame_start=index * frames, frame_end=(index + 1) * frames,
                     preroll_start=index * frames, file_pts=(), times_s=(), output_pts=(),
                     encode=EncodeSettings(codec="ffv1", width=16, height=16, time_base="1/25", frame_rate="25/1"))


@pytest.fixture()
def pool(ray_pool: RenderPool) -> RenderPool:  # the session's Ray, started by the shared fixture
    slots = tuple(ActorSlot(ray.get_runtime_context().get_node_id(), "local", 0, 0.0, 0) for _ in range(2))
    scripted = RenderPool(PoolShape(slots), max_attempts=3, actor_class=ScriptedActor)
    yield scripted
    scripted.shutdown()


class Journal:
    """Every pool event, in order."""

    def __init__(self) -> None:
        self.starts: list[tuple[int, int]] = []
        self.done: list[int] = []
        self.errors: list[tuple[int, str, bool]] = []
        self.progress: dict[int, int] = {}
        self.order: list[str] = []  # "start" and "error" in the order the driver saw them

    def _start(self, spec: ChunkSpec, attempt: int) -> None:
        self.starts.append((spec.index, attempt))
        self.order.append("start")

    def _error(self, spec: ChunkSpec, error: MattefarmError, final: bool) -> None:
        self.errors.append((spec.index, type(error).__name__, final))
        self.order.append("error")

    def events(self) -> PoolEvents:
        return PoolEvents(
            on_start=lambda spec, attempt, slot: self._start(spec, attempt),
            on_progress=lambda job_id, index, done: self.progress.__setitem__(index, max(done, self.progress.get(index, 0))),
            on_done=lambda spec, result: self.done.append(spec.index),
            on_error=self._error)


def test_every_chunk_comes_back_in_order_with_its_progress(pool: RenderPool, tmp_path: Path) -> None:
    journal = Journal()
    specs = [_spec(tmp_path, i, "slow" if i % 2 else "ok") for i in range(6)]
    results = pool.run(specs, journal.events())
    assert [r.index for r in results] == list(range(6))
    assert sorted(journal.done) == list(range(6)) and journal.errors == []
    assert journal.starts == [(i, 1) for i in range(6)]
    assert journal.progress == {i: 3 for i in range(6)}, "every chunk's progress reached the driver"


def test_a_dead_actor_is_replaced_and_its_chunk_tried_again(pool: RenderPool, tmp_path: Path) -> None:
    journal = Journal()
    specs = [_spec(tmp_path, 0, "ok"), _spec(tmp_path, 1, "die once"), _spec(tmp_path, 2, "ok")]
    before = {id(a) for a in pool.actors}
    results = pool.run(specs, journal.events())
    assert [r.index for r in results] == [0, 1, 2]
    assert (1, 1) in journal.starts and (1, 2) in journal.starts, "chunk 1 started twice, attempts counted"
    assert [(i, final) for i, _, final in journal.errors] == [(1, False)], "one transient failure, retried"
    assert {id(a) for a in pool.actors} != before, "the dead actor was replaced"
    assert pool.run([_spec(tmp_path, 3, "ok")], Journal().events())[0].index == 3, "the pool works on"


def test_a_chunk_that_keeps_killing_its_actor_is_dead_after_max_attempts(pool: RenderPool, tmp_path: Path) -> None:
    journal = Journal()
    specs = [_spec(tmp_path, 0, "die"), _spec(tmp_path, 1, "slow")]
    with pytest.raises(ChunkDead, match="chunk 0 failed 3 times"):
        pool.run(specs, journal.events())
    assert [a for i, a in journal.starts if i == 0] == [1, 2, 3]
    assert journal.errors[-1][0] == 0 and journal.errors[-1][2] is True
    assert 1 in journal.done, "the chunk in flight finished before the pool gave up"


def test_attempts_carry_over_from_an_earlier_run(pool: RenderPool, tmp_path: Path) -> None:
    journal = Journal()
    with pytest.raises(ChunkDead):
        pool.run([_spec(tmp_path, 0, "die")], journal.events(), attempts={0: 2})
    assert [a for i, a in journal.starts if i == 0] == [3], "a chunk that failed twice before gets one more try"


def test_a_permanent_error_stops_dispatching_and_is_not_retried(pool: RenderPool, tmp_path: Path) -> None:
    journal = Journal()
    specs = [_spec(tmp_path, 0, "bad input"), *(_spec(tmp_path, i, "slow") for i in range(1, 6))]
    with pytest.raises(InputError, match="chunk 0 is unreadable") as raised:
        pool.run(specs, journal.events())
    assert journal.errors == [(0, "InputError", True)]
    assert error_kind(raised.value) == "InputError", "the job records it as an input error (no retry offered)"
    assert [a for i, a in journal.starts if i == 0] == [1]
    seen = journal.order.index("error")
    assert "start" not in journal.order[seen:], "no chunk was handed out after the failure was seen"


def test_an_unexpected_error_keeps_the_actors_traceback(pool: RenderPool, tmp_path: Path) -> None:
    with pytest.raises(MattefarmError) as raised:
        pool.run([_spec(tmp_path, 0, "bug")], Journal().events())
    error = raised.value
    assert "KeyError" in str(error) and "Traceback" not in str(error)
    assert error.detail is not None and "test_pool_scheduling.py" in error.detail and "KeyError" in error.detail
