"""push_response: the share of a push the model predicts, measured on held-out windows where the cube moves, is
what the planner divides predicted pushes by; it must recover a known under-prediction."""
from __future__ import annotations

import types

import numpy as np
import pytest
import torch

from jepa_mpc.models.data import WindowDataset
from jepa_mpc.models.evaluation import push_response
from tests.models.blob_data import IMAGE, ee_of


class SharePredictor:
    """A stand-in world model for the blob data: encodes the blob's centre, reads the cube (= the blob here) with
    the blob's true mapping, and predicts `share` of each action's true motion."""

    def __init__(self, share: float, with_probe: bool = True) -> None:
        self.share = share
        self.probes = {"cube_pos": None} if with_probe else {}
        self.cfg = types.SimpleNamespace(encoder=types.SimpleNamespace(proprio_key="none"))
        self.device = torch.device("cpu")

    def encode(self, image: torch.Tensor, proprio=None) -> torch.Tensor:
        weight = image[..., 0].float()  # [B, h, w] the red channel is the blob
        grid = torch.arange(IMAGE, dtype=torch.float32)
        total = weight.sum((-2, -1))
        centre = torch.stack([(weight * grid).sum((-2, -1)), (weight * grid[:, None]).sum((-2, -1))], -1)
        return centre / total[..., None] / (IMAGE - 1) * 2 - 1  # [B, 2] blob xy in [-1, 1]

    def rollout(self, z0: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        return z0[:, None] + self.share * 0.15 * actions[..., :2].cumsum(1)  # the data's motion, times share

    def probe(self, name: str, z: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(ee_of(z.numpy()))


@pytest.fixture(scope="module")
def pushes(blob_dataset) -> WindowDataset:
    """Blob windows with the blob as the cube (it moves in every window that the actions move)."""
    ds = WindowDataset(blob_dataset, k=6)
    ds.episodes = [{**ep, "cube_pos": ep["ee_pos"]} for ep in ds.episodes]
    ds.obs_keys += ("cube_pos",)
    return ds


@pytest.mark.parametrize("share", [1.0, 0.5, 0.0])
def test_push_response_recovers_the_share_of_a_push_the_model_predicts(pushes, share):
    response = push_response(SharePredictor(share), pushes, min_motion_m=0.02)
    assert response["windows"] > 20
    assert response["ratio"] == pytest.approx(share, abs=0.08)  # the blob's clipping at the border blurs it
    assert len(response["ratio_per_step"]) == 6 and np.allclose(response["ratio_per_step"], share, atol=0.12)


def test_push_response_needs_a_cube_probe_recorded_cubes_and_moving_windows(pushes, blob_dataset):
    assert push_response(SharePredictor(1.0, with_probe=False), pushes) is None
    assert push_response(SharePredictor(1.0), WindowDataset(blob_dataset, k=6)) is None  # no cube recorded
    assert push_response(SharePredictor(1.0), pushes, min_motion_m=10.0) is None  # nothing moved 10 m
