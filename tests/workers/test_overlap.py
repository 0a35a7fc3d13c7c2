"""The decode-ahead / encode-behind threads: order, bounded queues, errors, no hangs."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from workers.overlap import ReadAhead, WriteBehind


def test_read_ahead_yields_every_item_in_order_and_stays_bounded() -> None:
    produced: list[int] = []

    def source() -> Iterator[int]:
        for i in range(50):
            produced.append(i)
            yield i

    with ReadAhead(source(), depth=2) as items:
        seen = []
        for item in items:
            time.sleep(0.001)
            # At most depth items queued + one being put + the one just taken.
            assert len(produced) - len(seen) <= 4
            seen.append(item)
    assert seen == list(range(50))


def test_read_ahead_reraises_the_source_error_at_its_place() -> None:
    def source() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("damaged chunk")

    seen = []
    with pytest.raises(ValueError, match="damaged chunk"), ReadAhead(source()) as items:
        for item in items:
            seen.append(item)
    assert seen == [1, 2]


def test_read_ahead_stops_and_closes_its_source_when_the_consumer_fails() -> None:
    closed = threading.Event()

    def endless() -> Iterator[int]:
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closed.set()

    with pytest.raises(RuntimeError), ReadAhead(endless(), depth=1) as items:
        for item in items:
            if item == 3:
                raise RuntimeError("keyer failed")
    assert closed.wait(2.0)


def test_write_behind_writes_everything_in_order_before_close_returns() -> None:
    written: list[int] = []
    with WriteBehind(lambda item: (time.sleep(0.001), written.append(item)), depth=2) as sink:
        for i in range(30):
            sink.put(i)
    assert written == list(range(30))
    assert sink.done == 30


def test_write_behind_reraises_a_sink_error_to_the_producer() -> None:
    def sink(item: int) -> None:
        if item == 5:
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"), WriteBehind(sink, depth=1) as writer:
        for i in range(1000):  # must not block forever once the sink has died
            writer.put(i)


def test_write_behind_drops_queued_items_when_the_producer_fails() -> None:
    written: list[int] = []
    started = time.monotonic()
    with pytest.raises(KeyError), WriteBehind(lambda item: (time.sleep(0.05), written.append(item)), depth=2) as sink:
        for i in range(3):
            sink.put(i)
        raise KeyError("producer failed")
    assert time.monotonic() - started < 1.0
    assert len(written) < 3
