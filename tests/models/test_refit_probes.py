"""`jepa-mpc fit-probes`: probes refitted on more data read that data better, the encoder and predictor stay as
trained, and on the training data alone the refit gives back the training run's own probes."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from jepa_mpc.apps.cli import main
from jepa_mpc.models.checkpoint import load_checkpoint, read_checkpoint_meta
from jepa_mpc.models.data import WindowDataset, split_episodes
from jepa_mpc.models.refit_probes import refit_probes
from tests.models.blob_data import write_blob_dataset


def _probe_state(model) -> dict[str, torch.Tensor]:
    return {k: v for k, v in model.state_dict().items() if k.startswith("probes.")}


def _ee_error_cm(model, root) -> float:
    """Mean ee_pos probe error (cm) over the held-out episodes of the dataset at `root`."""
    _, val = split_episodes(root, 0.25, 0)
    episodes = WindowDataset(root, 1, val).episodes
    image = torch.as_tensor(np.concatenate([ep["image"] for ep in episodes]))
    ee = torch.as_tensor(np.concatenate([ep["ee_pos"] for ep in episodes]))
    return float(100 * (model.probe("ee_pos", model.encode(image)) - ee).norm(dim=-1).mean())


def test_refit_on_the_training_data_alone_gives_the_training_probes(trained_run, blob_dataset, tmp_path):
    out, _ = trained_run
    model, metrics, _ = refit_probes(out, [blob_dataset], tmp_path / "same", device="cpu")
    trained = _probe_state(load_checkpoint(out, device="cpu"))
    assert trained.keys() == _probe_state(model).keys()
    for key, value in _probe_state(model).items():
        torch.testing.assert_close(value, trained[key], rtol=1e-5, atol=1e-6, msg=key)
    assert [d["episodes"] for d in metrics["probe_data"]] == [16]


def test_fit_probes_reads_the_added_data_better_and_keeps_the_model(trained_run, blob_dataset, tmp_path):
    """A corner of the image the training data seldom visits, common in a second dataset: the probes refitted on
    both read it better, while every encoder and predictor weight is the trained one."""
    out, _ = trained_run
    corner = write_blob_dataset(tmp_path / "corner", episodes=12, steps=6, seed=5, start=(0.6, 0.9))
    refit = tmp_path / "refit"
    assert main(["fit-probes", "--checkpoint", str(out), "--data", str(blob_dataset), str(corner), "--out",
                 str(refit), "--device", "cpu", "--no-progress"]) == 0
    old, new = load_checkpoint(out, device="cpu"), load_checkpoint(refit, device="cpu")
    for key, value in old.state_dict().items():
        if not key.startswith("probes."):
            assert torch.equal(value, new.state_dict()[key]), key
    assert _ee_error_cm(new, corner) < 0.8 * _ee_error_cm(old, corner)
    metrics = read_checkpoint_meta(refit)["metrics"]
    assert [d["episodes"] for d in metrics["probe_data"]] == [16, 12]
    assert "push_response" not in metrics  # no cube in the blob data: nothing to measure
    assert read_checkpoint_meta(refit)["train_config"] == read_checkpoint_meta(out)["train_config"]


def test_fit_probes_refuses_to_overwrite_or_to_read_a_non_dataset(trained_run, blob_dataset, tmp_path):
    out, _ = trained_run
    with pytest.raises(SystemExit, match="already exists"):
        main(["fit-probes", "--checkpoint", str(out), "--data", str(blob_dataset), "--out", str(out)])
    with pytest.raises(SystemExit, match="not a dataset"):
        main(["fit-probes", "--checkpoint", str(out), "--data", str(tmp_path), "--out", str(tmp_path / "x")])
    with pytest.raises(SystemExit, match="no checkpoint"):
        main(["fit-probes", "--checkpoint", str(tmp_path), "--data", str(blob_dataset), "--out", str(tmp_path / "y")])
