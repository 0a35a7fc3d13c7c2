"""Getting model files onto a machine: the registry's path, downloading what is missing.

Downloads stream to a temporary file beside the target with a progress bar,
are checked against the registry's SHA-256 and only then renamed into place;
a machine without internet gets the registry's error naming the file, its URL
and the folder to put it in.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import httpx
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

from models.errors import ModelError
from models.registry import MissingModel, model_path, models_dir, verify


def fetch_model(name: str, directory: Path | None = None, download: bool = True) -> Path:
    """The verified local file of a model, downloading it first if missing.

    Raises:
        MissingModel: missing and ``download`` is False, or the download failed (offline).
        ModelError: the file (present or downloaded) fails its hash check.
    """
    directory = directory or models_dir()
    try:
        return model_path(name, directory)
    except MissingModel as missing:
        if not download:
            raise
        return _download(missing, directory)


def _download(missing: MissingModel, directory: Path) -> Path:
    spec = missing.spec
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / spec.file
    part = directory / f"{spec.file}.part-{uuid.uuid4().hex[:8]}"
    try:
        with httpx.stream("GET", spec.url, follow_redirects=True, timeout=30) as response:
            response.raise_for_status()
            total = int(response.headers.get("content-length", 0)) or None
            columns = [TextColumn(f"downloading {spec.file}"), BarColumn(), DownloadColumn(), TransferSpeedColumn()]
            with open(part, "wb") as out, Progress(*columns, transient=True) as bar:
                task = bar.add_task("download", total=total)
                for block in response.iter_bytes(1 << 20):
                    out.write(block)
                    bar.advance(task, len(block))
        verify(spec, part)
        os.replace(part, target)
    except httpx.HTTPError as exc:
        raise ModelError(f"{missing.problem}, and downloading it failed ({exc})", missing.hint) from exc
    finally:
        if part.exists():
            part.unlink()
    return target

