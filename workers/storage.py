"""One storage interface for every file Mattefarm reads or writes, built on fsspec.

Keys are ``/``-separated paths under a root that is a local directory (the
default) or any fsspec URI (``s3://bucket/farm``, ``memory://``...). Every
write is atomic: the data goes to a temporary name beside its key and is
renamed into place only when complete, so a crash never leaves a half-written
file under a finished name.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import fsspec
from fsspec.implementations.local import LocalFileSystem

from models.errors import TransientError


class Storage:
    """Files under one root.

    Args:
        root: a local directory or an fsspec URI; created if missing.
    """

    def __init__(self, root: str) -> None:
        self.root = str(root)
        self.fs, base = fsspec.core.url_to_fs(self.root)
        self.base = base.rstrip("/")
        self.is_local = isinstance(self.fs, LocalFileSystem)
        self.fs.makedirs(self.base, exist_ok=True)

    def path(self, key: str) -> str:
        """Filesystem path (for local storage, an absolute path) of a key."""
        return f"{self.base}/{key}"

    def exists(self, key: str) -> bool:
        """Whether a finished file exists under ``key``."""
        return bool(self.fs.exists(self.path(key)))

    @contextmanager
    def local_copy(self, key: str) -> Iterator[str]:
        """A local path holding the file's bytes (the file itself on local storage)."""
        if self.is_local:
            yield self.path(key)
            return
        with tempfile.TemporaryDirectory(prefix="mattefarm-") as tmp:
            local = os.path.join(tmp, Path(key).name)
            try:
                self.fs.get(self.path(key), local)
            except OSError as exc:
                raise TransientError(f"could not fetch {key} from {self.root} ({exc})", "retry") from exc
            yield local

    @contextmanager
    def writer(self, key: str) -> Iterator[str]:
        """Yield a local path to write; on success it lands under ``key`` atomically.

        If the block raises, nothing appears under ``key`` and the partial file is removed.
        """
        final = self.path(key)
        self.fs.makedirs(str(Path(final).parent) if self.is_local else final.rsplit("/", 1)[0], exist_ok=True)
        suffix = Path(key).suffix
        if self.is_local:
            tmp = f"{final}.part-{uuid.uuid4().hex[:8]}{suffix}"
            try:
                yield tmp
                os.replace(tmp, final)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
            return
        with tempfile.TemporaryDirectory(prefix="mattefarm-") as tmpdir:
            local = os.path.join(tmpdir, f"out{suffix}")
            yield local
            remote_tmp = f"{final}.part-{uuid.uuid4().hex[:8]}"
            self.fs.put(local, remote_tmp)
            self.fs.mv(remote_tmp, final)

    def put_file(self, local: str, key: str) -> None:
        """Copy a local file under ``key`` atomically."""
        with self.writer(key) as tmp:
            shutil.copyfile(local, tmp)

    def append_text(self, key: str, text: str) -> None:
        """Append text to a small log file under ``key`` (created if missing).

        Not atomic: for logs, where a reader may see the file grow.
        """
        path = self.path(key)
        self.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        if self.is_local:
            with open(path, "a", encoding="utf-8") as out:
                out.write(text)
            return
        old = self.fs.cat_file(path).decode("utf-8") if self.fs.exists(path) else ""
        self.fs.pipe_file(path, (old + text).encode("utf-8"))

    def read_text(self, key: str) -> str | None:
        """A text file's content, or None when it does not exist."""
        path = self.path(key)
        return self.fs.cat_file(path).decode("utf-8", errors="replace") if self.fs.exists(path) else None

    def delete(self, key: str) -> None:
        """Remove a file or a whole prefix; missing keys are ignored."""
        target = self.path(key)
        if self.fs.exists(target):
            self.fs.rm(target, recursive=True)
