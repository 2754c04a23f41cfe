"""The auxiliary state head (TrainConfig.aux_state): windows carry the array, the loss reads it from encoded and
predicted latents, its gradient trains the predictor, and the head never reaches the deployed model."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from jepa_mpc.models.checkpoint import load_checkpoint
from jepa_mpc.models.data import WindowDataset
from jepa_mpc.models.objective import JepaObjective
from jepa_mpc.models.train import train
from tests.models.blob_data import tiny_model_config, tiny_train_config


def _batch(dataset, n: int = 8) -> dict[str, torch.Tensor]:
    items = [dataset[i] for i in range(0, 5 * n, 5)]
    return {k: torch.stack([it[k] for it in items]) for k in items[0]}


def test_windows_carry_an_optional_array_only_when_every_episode_records_it(blob_dataset):
    ds = WindowDataset(blob_dataset, k=3)
    assert "cube_pos" not in ds.obs_keys and "cube_pos" not in ds[0]
    ds.episodes = [{**ep, "cube_pos": ep["ee_pos"] + np.float32(1.0)} for ep in ds.episodes]
    ds.obs_keys += ("cube_pos",)
    item = ds[7]
    assert item["cube_pos"].shape == (4, 3)
    np.testing.assert_allclose(item["cube_pos"].numpy(), item["ee_pos"].numpy() + 1.0)


def test_aux_loss_is_weighted_and_its_gradient_reaches_predictor_and_encoder(blob_dataset, tmp_path):
    batch = _batch(WindowDataset(blob_dataset, k=3))
    losses, logs = [], []
    for weight in (0.0, 2.5):
        torch.manual_seed(0)
        cfg = tiny_train_config(blob_dataset, tmp_path, aux_state=("ee_pos",), aux_state_weight=weight)
        objective = JepaObjective(tiny_model_config(), cfg, aux_state_dim=3)
        objective.set_state_normalization([batch["ee_pos"].flatten(0, 1)])
        loss, log = objective(batch)
        losses.append(loss)
        logs.append(log)
    torch.testing.assert_close(losses[1] - losses[0], 2.5 * logs[1]["aux_state"], rtol=1e-4, atol=1e-6)
    assert logs[1]["aux_state"] > 0
    # The head reads predicted latents: its error alone trains the predictor (and, through s_0, the encoder).
    predicted = objective.model.predictor.rollout(objective.model.encode(batch["image"][:, 0]), batch["action"])
    objective.zero_grad()
    objective._state_error(predicted, torch.ones(8, 3, 3)).backward()
    for part in (objective.model.predictor, objective.model.encoder):
        assert sum(p.grad.abs().sum() for p in part.parameters() if p.grad is not None) > 0


def test_each_array_gets_one_scale_so_a_constant_dimension_is_not_blown_up(blob_dataset, tmp_path):
    cfg = tiny_train_config(blob_dataset, tmp_path, aux_state=("cube_pos", "joint_pos"))
    objective = JepaObjective(tiny_model_config(), cfg, aux_state_dim=3 + 2)
    cube = torch.stack([torch.linspace(0, 0.3, 50), torch.linspace(-0.4, 0.0, 50), torch.full((50,), 0.02)], -1)
    joints = torch.stack([torch.linspace(-2, 2, 50), torch.linspace(1, 3, 50)], -1)
    objective.set_state_normalization([cube, joints])
    torch.testing.assert_close(objective.state_mean, torch.cat([cube.mean(0), joints.mean(0)]))
    expected = torch.cat([cube.var(0).mean().sqrt().expand(3), joints.var(0).mean().sqrt().expand(2)])
    torch.testing.assert_close(objective.state_scale, expected)  # the cube's constant height shares x/y's scale
    with pytest.raises(ValueError, match="aux_state_dim"):
        JepaObjective(tiny_model_config(), cfg)


def test_training_with_aux_state_learns_the_head_and_exports_without_it(blob_dataset, tmp_path):
    cfg = tiny_train_config(blob_dataset, tmp_path / "run", aux_state=("ee_pos",), steps=60, log_every=10,
                            eval_every=60, checkpoint_every=60)
    result = train(cfg, tiny_model_config())
    aux = [row["aux_state"] for row in result.history]
    assert aux[-1] < 0.5 * aux[0], aux
    names = load_checkpoint(tmp_path / "run", device="cpu").state_dict()
    assert names and not any("state_head" in name or "expander" in name for name in names)


def test_aux_state_the_data_lacks_is_a_clear_error(blob_dataset, tmp_path):
    with pytest.raises(ValueError, match="cube_pos.*not every episode"):
        train(tiny_train_config(blob_dataset, tmp_path / "run", aux_state=("cube_pos",)), tiny_model_config())


@pytest.mark.parametrize("names", [("goal_pos",), ("ee_pos", "ee_pos"), "ee_pos"])
def test_aux_state_must_name_distinct_recorded_arrays(blob_dataset, tmp_path, names):
    with pytest.raises(ValueError, match="aux_state"):
        tiny_train_config(blob_dataset, tmp_path, aux_state=names)
