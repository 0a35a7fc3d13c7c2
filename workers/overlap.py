"""Overlap a chunk's stages: decode ahead and encode behind the keyer, in threads.

The decoder (PyAV), the keyer (onnxruntime) and the encoder (libx264) each
release the GIL while they work, but each alone leaves cores idle: x264's frame
threads and the decoder keep about 1.6 of 2 cores busy, and many of the
keyer's operators run on one thread. Run one after another they add up; run
as a three-stage pipeline with bounded queues between them, their idle time is
filled. On this project's 2-core benchmark machine, decode + key + encode of
1080p went from 21 to 26 fps (see README > Benchmarks).

Queues hold at most ``depth`` items, so memory stays bounded whatever the chunk
length. An exception in a stage thread is re-raised in the caller's thread.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")
_DONE = object()
_POLL_S = 0.1


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def _put(q: queue.Queue, item: object, stop: threading.Event) -> bool:
    """Put unless ``stop`` is set first; False when stopped (so a thread never blocks forever)."""
    while not stop.is_set():
        try:
            q.put(item, timeout=_POLL_S)
            return True
        except queue.Full:
            continue
    return False


class ReadAhead(Generic[T]):
    """Iterate ``source`` in a background thread, ``depth`` items ahead of the consumer.

    Use as a context manager; iterate it once. Leaving the block early (an
    error in the consumer) stops the thread at its next item.

    Raises:
        Whatever ``source`` raises, in the consuming thread, when that item is reached.
    """

    def __init__(self, source: Iterable[T], depth: int = 2, name: str = "read-ahead") -> None:
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(source,), name=name, daemon=True)

    def _run(self, source: Iterable[T]) -> None:
        try:
            for item in source:
                if not _put(self._queue, item, self._stop):
                    return
            _put(self._queue, _DONE, self._stop)
        except BaseException as exc:  # handed to the consumer, re-raised there
            _put(self._queue, _Failure(exc), self._stop)
        finally:
            close = getattr(source, "close", None)
            if close is not None:  # a generator: release its files in this thread
                close()

    def __enter__(self) -> "ReadAhead[T]":
        self._thread.start()
        return self

    def __iter__(self) -> Iterator[T]:
        while True:
            item = self._queue.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.exc
            yield item

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


class WriteBehind(Generic[T]):
    """Call ``sink(item)`` in a background thread for each item ``put``, in order.

    ``close`` (or leaving the ``with`` block normally) waits until every item is
    written; ``done`` counts items written so far. After a sink error, the next
    ``put`` or ``close`` re-raises it in the caller's thread.
    """

    def __init__(self, sink: Callable[[T], None], depth: int = 2, name: str = "write-behind") -> None:
        self._sink = sink
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self.done = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                item = self._queue.get(timeout=_POLL_S)
            except queue.Empty:
                continue
            if item is _DONE:
                return
            try:
                self._sink(item)
                self.done += 1
            except BaseException as exc:
                self._error = exc
                self._stop.set()
                return

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def put(self, item: T) -> None:
        """Queue one item (blocks while ``depth`` items are waiting)."""
        self._raise()
        if not _put(self._queue, item, self._stop):
            self._raise()

    def close(self) -> None:
        """Wait for every queued item to be written; re-raise a sink error. Idempotent."""
        if self._thread.is_alive():
            _put(self._queue, _DONE, self._stop)
            self._thread.join()
        self._raise()

    def __enter__(self) -> "WriteBehind[T]":
        self._thread.start()
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.close()
            return
        self._stop.set()  # the caller failed: drop what is queued, stop the thread
        self._thread.join()


class Inline(Generic[T]):
    """:class:`WriteBehind`'s interface, writing in the caller's thread (for profiling and tests)."""

    def __init__(self, sink: Callable[[T], None]) -> None:
        self._sink = sink
        self.done = 0

    def put(self, item: T) -> None:
        """Write one item now."""
        self._sink(item)
        self.done += 1

    def close(self) -> None:
        """Nothing is pending."""
