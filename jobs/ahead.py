"""A new job's probe and screen analysis, worked out in a background thread before the job exists.

A CLI render spends its first seconds importing its libraries (SQLAlchemy,
then the keyer's onnx, onnxruntime and numba) and opening its database: one
core busy with Python, the other idle. The probe and the screen analysis need
only the source and the options, and the analysis is mostly decoding, which
runs in FFmpeg's threads without the GIL; so they run meanwhile, in
:class:`IngestAhead`, and :func:`jobs.ingest.ingest_job` takes their results
(or their errors, raised where the ingest would have raised them) instead of
doing the work again. ``then`` runs in the same thread after the analysis:
the CLI builds the keyer there (its imports and model included) for an
in-process render, while the job is split.

The results are used only by a job for the same source and options
(:meth:`IngestAhead.results_for`); a resumed job, whose plan is stored, ignores them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jobs.options import RenderOptions
    from models.screen import ScreenAnalysis
    from workers.probe import MediaProbe

# Light to import: the thread imports PyAV, OpenCV and the analysis itself, so it starts at once.
log = logging.getLogger(__name__)
ThenFn = Callable[["MediaProbe", "ScreenAnalysis | None"], None]
"""Called in the background thread with the probe and the analysis (None: ``--no-key``)."""


class IngestAhead:
    """Probe and analyse ``source`` for a job with ``options``, in a daemon thread started at once.

    Args:
        source: the source path (resolved as the CLI's job row records it).
        options: the job's options (screen choice and keyer controls matter).
        then: optional work after a successful analysis (its errors are logged, not raised:
            whatever it prepared is done again where it is needed).
    """

    def __init__(self, source: str, options: RenderOptions, then: ThenFn | None = None) -> None:
        self.source, self.options = str(Path(source).expanduser().resolve()), options.model_dump()
        self._options, self._then = options, then
        self._probed, self._analysed = threading.Event(), threading.Event()
        self._probe: MediaProbe | None = None
        self._screen: ScreenAnalysis | None = None
        self._error: BaseException | None = None
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ingest-ahead", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            from jobs.analysis import analyse_screen
            from jobs.ingest import source_options
            from models.keyer_params import KeyerParams
            from workers.source import probe_source

            self._probe = probe_source(self.source, *source_options(self._options))
            self._probed.set()
            options = self._options
            params = KeyerParams.from_overrides(options.keyer)
            if options.analyses_screen and not self._closed.is_set():
                self._screen = analyse_screen(self._probe, options.screen, params.screen_balance)
        except BaseException as exc:  # noqa: BLE001 - handed to the ingest, raised there
            self._error = exc
            return
        finally:
            self._probed.set()
            self._analysed.set()
        if self._then is not None and not self._closed.is_set():
            try:
                self._then(self._probe, self._screen)
            except Exception:  # noqa: BLE001 - the render prepares it again, and fails there if it must
                log.debug("preparing ahead failed", exc_info=True)

    def results_for(self, source: str, options: dict) -> IngestAhead | None:
        """This, if it was made for a job with this (resolved) ``source`` and ``options``
        (:meth:`RenderOptions.model_dump`), else None."""
        return self if source == self.source and options == self.options else None

    def probe(self) -> MediaProbe:
        """The source's probe, once ready.

        Raises:
            InputError, MediaError: what :func:`workers.probe.probe_video` raised.
        """
        self._probed.wait()
        if self._probe is None:
            raise self._error or RuntimeError("the probe ahead was closed before it ran")
        return self._probe

    def screen(self) -> ScreenAnalysis | None:
        """The screen analysis (None for ``--no-key`` and a shot without a screen, ``--matte portrait`` ...), once ready.

        Raises:
            InputError: what :func:`jobs.analysis.analyse_screen` raised (no screen found, a bad ``--screen``).
        """
        self._analysed.wait()
        if self._error is not None:
            raise self._error
        if self._screen is None and self._options.analyses_screen:
            raise RuntimeError("the analysis ahead was closed before it ran")
        return self._screen

    def close(self, timeout: float = 60.0) -> None:
        """Skip what has not begun and wait for the thread (at most ``timeout`` s), so the
        process never exits with it inside a library (a render that failed early)."""
        self._closed.set()
        self._thread.join(timeout)
