"""Per-chunk logs: what happened to each chunk of a job, attempt by attempt, for people to read.

Lines go to ``logs/{job_id}/chunk_{index:05d}.log`` in storage (kept when the
job's intermediate files are cleaned up, removed with the job).
"""

from __future__ import annotations

from datetime import datetime, timezone

from jobs.layout import JobLayout
from workers.storage import Storage


def log_key(job_id: str, index: int) -> str:
    """Storage key of one chunk's log (:meth:`jobs.layout.JobLayout.chunk_log`)."""
    return JobLayout(job_id).chunk_log(index)


class ChunkLog:
    """Appends timestamped lines to a job's chunk logs.

    Args:
        storage: where the logs live. job_id: the job.
    """

    def __init__(self, storage: Storage, job_id: str) -> None:
        self.storage, self.job_id = storage, job_id

    def write(self, index: int, message: str) -> None:
        """Append one line (UTC time, then the message) to chunk ``index``'s log."""
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        self.storage.append_text(log_key(self.job_id, index), f"{stamp} {message}\n")

    def tail(self, index: int, lines: int = 200) -> str | None:
        """The last ``lines`` lines of a chunk's log, or None if it has none yet."""
        text = self.storage.read_text(log_key(self.job_id, index))
        return None if text is None else "".join(text.splitlines(keepends=True)[-lines:])
