"""The model registry: verified files from one directory, clear errors when missing or corrupted."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from models import registry
from models.errors import ModelError
from models.registry import REGISTRY, MissingModel, model_path
from tests.conftest import SHARED
from workers.model_files import fetch_model

MODELS = SHARED / "models"


IN_SHARED = ("facemesh_468", "yunet", "yunet_s_dynamic")
NOT_OBTAINABLE_HERE = ("arcface_w600k_r50", "inswapper_128", "birefnet", "rvm")  # neural swapper (issue 5), matting
STUDIO_SUPPLIED = ("modnet",)  # no published digest: never downloaded, taken as the studio puts it there
FROM_NPM = ("selfie_segmentation", "selfie_segmentation_landscape")  # fetched and checked in test_segmentation.py


@pytest.mark.parametrize("name", IN_SHARED)
def test_every_registered_model_in_the_shared_folder_verifies(name: str) -> None:
    path = model_path(name, MODELS)
    assert path.name == REGISTRY[name].file and REGISTRY[name].url.startswith("https://")


def test_models_not_in_the_shared_folder_have_well_formed_entries() -> None:
    assert sorted(REGISTRY) == sorted(IN_SHARED + NOT_OBTAINABLE_HERE + FROM_NPM + STUDIO_SUPPLIED)
    for name in NOT_OBTAINABLE_HERE:
        spec = REGISTRY[name]
        assert not (MODELS / spec.file).exists() or model_path(name, MODELS)
        assert spec.url.startswith("https://") and spec.url.endswith(spec.file)
        assert spec.sha256 is not None and len(spec.sha256) == 64 and all(c in "0123456789abcdef" for c in spec.sha256)


def test_a_missing_model_names_the_file_its_url_and_the_folder(tmp_path: Path) -> None:
    with pytest.raises(MissingModel) as caught:
        fetch_model("yunet", tmp_path, download=False)
    message = str(caught.value)
    assert "face_detection_yunet_2023mar.onnx" in message and REGISTRY["yunet"].url in message and str(tmp_path) in message


def test_a_corrupted_model_file_is_refused(tmp_path: Path) -> None:
    spec = REGISTRY["yunet"]
    data = bytearray((MODELS / spec.file).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / spec.file).write_bytes(bytes(data))
    with pytest.raises(ModelError, match="SHA-256"):
        model_path("yunet", tmp_path)


def test_a_failed_download_says_where_to_get_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    unreachable = dataclasses.replace(REGISTRY["yunet"], url="http://127.0.0.1:9/face_detection_yunet_2023mar.onnx")
    monkeypatch.setitem(registry.REGISTRY, "yunet", unreachable)
    with pytest.raises(ModelError, match="downloading it failed") as caught:
        fetch_model("yunet", tmp_path)
    assert unreachable.url in str(caught.value)
    assert not list(tmp_path.iterdir()), "no partial file is left behind"


def test_the_models_dir_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MATTEFARM_MODELS_DIR", str(tmp_path))
    shutil.copy(MODELS / REGISTRY["yunet"].file, tmp_path)
    assert fetch_model("yunet", download=False) == tmp_path / REGISTRY["yunet"].file


def test_a_studio_supplied_model_is_never_downloaded_and_any_file_is_taken(tmp_path: Path) -> None:
    spec = REGISTRY["modnet"]
    assert spec.sha256 is None and spec.url.startswith("https://")
    with pytest.raises(MissingModel) as caught:
        fetch_model("modnet", tmp_path)  # download allowed, but there is nothing to check a download against
    assert spec.file in str(caught.value) and spec.url in str(caught.value)
    assert not list(tmp_path.iterdir())
    (tmp_path / spec.file).write_bytes(b"the studio's file")
    assert fetch_model("modnet", tmp_path) == tmp_path / spec.file
