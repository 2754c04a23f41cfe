"""Fixtures for the world-model tests: the blob dataset, a shared short training run, one torch thread."""
from __future__ import annotations

import pathlib

import pytest

from tests.models.blob_data import tiny_model_config, tiny_train_config, write_blob_dataset


@pytest.fixture(scope="package")
def blob_dataset(tmp_path_factory) -> pathlib.Path:
    """16 episodes x 24 steps of 32x32 blob frames."""
    return write_blob_dataset(tmp_path_factory.mktemp("blob"))


@pytest.fixture(scope="package")
def trained_run(_one_torch_thread, blob_dataset, tmp_path_factory):
    """One short VICReg training run on the blob dataset, shared by the tests that need a trained model."""
    from jepa_mpc.models.train import train

    out = tmp_path_factory.mktemp("run") / "vicreg"
    result = train(tiny_train_config(blob_dataset, out), tiny_model_config())
    return out, result


