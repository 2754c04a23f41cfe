"""Closed-loop evaluation: Wilson interval values, determinism under seed, and baselines that separate."""
from __future__ import annotations

import pytest

from jepa_mpc.sim.evaluate import EvalSettings, evaluate, run_episodes, wilson_interval


@pytest.mark.parametrize("k, n, lo, hi", [(0, 10, 0.0, 0.2775), (5, 10, 0.2366, 0.7634), (10, 10, 0.7225, 1.0),
                                          (45, 50, 0.7864, 0.9565)])
def test_wilson_interval_matches_reference_values(k, n, lo, hi):
    got = wilson_interval(k, n)
    assert got == pytest.approx((lo, hi), abs=1e-4)


def test_same_seed_same_results():
    s = EvalSettings(policy="random", max_steps=8, seed=3)
    a, b = run_episodes(s, [0, 1]), run_episodes(s, [0, 1])
    assert [r.distances for r in a] == [r.distances for r in b]
    c = run_episodes(EvalSettings(policy="random", max_steps=8, seed=4), [0, 1])
    assert [r.distances for r in a] != [r.distances for r in c]


def test_random_is_far_below_oracle_and_nothing_is_violated():
    rand, _ = evaluate(EvalSettings(policy="random", max_steps=30), episodes=4)
    oracle, _ = evaluate(EvalSettings(policy="oracle", max_steps=30), episodes=4)
    assert oracle["success_rate"] == 1.0 and rand["success_rate"] <= 0.25
    assert oracle["final_distance_mean_m"] < 0.01 < rand["final_distance_mean_m"]
    assert rand["violations"] == oracle["violations"] == 0


def test_settings_are_validated():
    with pytest.raises(ValueError, match="policy"):
        EvalSettings(policy="telepathy")
    with pytest.raises(ValueError, match="goal"):
        EvalSettings(goal="vibes")


def test_checkpoint_with_joint_position_input_gets_them_for_observation_and_goal(tmp_path, monkeypatch):
    """A proprio-conditioned encoder must be fed joint positions for every frame and for the goal image."""
    import torch

    from jepa_mpc.models.checkpoint import save_checkpoint
    from jepa_mpc.models.config import EncoderConfig, WorldModelConfig
    from jepa_mpc.models.world_model import WorldModel

    torch.manual_seed(0)
    model = WorldModel(WorldModelConfig(latent_dim=8, encoder=EncoderConfig(proprio_dim=9, proprio_key="joint_pos")))
    save_checkpoint(tmp_path / "proprio", model)
    seen = []
    real_encode = WorldModel.encode

    def spy(self, image, proprio=None):
        seen.append(None if proprio is None else tuple(proprio.shape))
        return real_encode(self, image, proprio)

    monkeypatch.setattr(WorldModel, "encode", spy)
    results = run_episodes(EvalSettings(policy="mpc", checkpoint=str(tmp_path / "proprio"), num_samples=16,
                                        horizon=2, iterations=1, max_steps=2), [0])
    assert len(results[0].distances) == 3
    assert seen and all(shape == (1, 9) for shape in seen), seen


def test_panda_eval_refuses_a_checkpoint_that_reads_joint_velocities(tmp_path):
    """The Panda path feeds joint positions; a velocity-conditioned encoder must not silently get them."""
    from jepa_mpc.models.checkpoint import save_checkpoint
    from jepa_mpc.models.config import EncoderConfig, WorldModelConfig
    from jepa_mpc.models.world_model import WorldModel

    save_checkpoint(tmp_path / "vel", WorldModel(WorldModelConfig(
        latent_dim=8, encoder=EncoderConfig(widths=(8, 16), proprio_dim=9, proprio_key="joint_vel"))))
    with pytest.raises(ValueError, match="joint_vel"):
        run_episodes(EvalSettings(policy="mpc", checkpoint=str(tmp_path / "vel"), num_samples=16, horizon=2,
                                  iterations=1, max_steps=1), [0])
