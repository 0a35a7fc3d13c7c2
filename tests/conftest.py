"""Shared fixtures: the shared media folder, a local Ray cluster, storage and a database."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MATTEFARM_SHARED", REPO.parent / "shared")).resolve()
MEDIA = SHARED / "media"
os.environ.setdefault("MATTEFARM_MODELS_DIR", str(SHARED / "models"))  # the registry's files, verified by hash


def media(relative: str) -> str:
    """Path of a file in the shared media folder; skips nothing: a missing file fails the test."""
    path = MEDIA / relative
    assert path.is_file(), f"{path} is missing: point MATTEFARM_SHARED at the shared folder"
    return str(path)


@pytest.fixture(scope="session")
def ray_pool() -> Iterator[object]:
    """A real local Ray cluster and a render pool of one CPU actor, shared by the session."""
    import ray

    from workers.pool import RenderPool, connect_ray, pool_shape

    connect_ray(num_cpus=2)
    pool = RenderPool(pool_shape(1))
    yield pool
    pool.shutdown()
    ray.shutdown()


@pytest.fixture()
def home(tmp_path: Path) -> Path:
    """A fresh Mattefarm home (SQLite database and storage) for one test."""
    return tmp_path / "home"


def _apt_install(package: str) -> None:
    """Install a Debian package (as .ci/run once did for chromium), so README's test command
    brings what the tests need on a fresh machine of this kind (root, apt-get; no downloads
    of browsers or binaries from elsewhere)."""
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return
    subprocess.run(["apt-get", "update", "-qq"], check=False, capture_output=True, timeout=600)
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", package], check=False,
                   capture_output=True, timeout=900, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})


@pytest.fixture(scope="session")
def chromium() -> str:
    """The path of a chromium for Playwright to drive, installed first if missing."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        _apt_install("chromium")
        found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "chromium is missing and could not be installed: apt-get install chromium"
    return found


@pytest.fixture(scope="session")
def ffprobe() -> str:
    """The FFmpeg CLI's ffprobe (a tool that is not ours, to read outputs' tags), installed if missing."""
    if shutil.which("ffprobe") is None:
        _apt_install("ffmpeg")
    found = shutil.which("ffprobe")
    assert found, "ffprobe is missing and could not be installed: apt-get install ffmpeg"
    return found
