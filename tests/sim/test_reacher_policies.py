"""Reacher eval policies: the privileged oracle solves the task, the violation check, and the learned-model MPC
wired to a checkpoint (proprioception for observation and goal, commands inside the action box)."""
from __future__ import annotations

import gymnasium
import numpy as np
import pytest

import jepa_mpc.sim  # noqa: F401  (registers the env ids)
from jepa_mpc.apps.reacher_mpc import ReacherMPC
from jepa_mpc.sim.collect import episode_seed
from jepa_mpc.sim.reacher_policies import action_violates, oracle_action
from jepa_mpc.tasks import REACHER


@pytest.fixture(scope="module")
def env():
    e = gymnasium.make(REACHER.env_id).unwrapped
    yield e
    e.close()


def test_oracle_succeeds_from_either_wrist_side(env):
    """PD to the IK configuration on the wrist's own side: no episode may stall at the wrist limit."""
    sides = set()
    for i in range(12):
        _, info = env.reset(seed=episode_seed(0, i))
        sides.add(bool(env.data.qpos[1] >= 0))
        for _ in range(30):
            _, _, _, _, info = env.step(oracle_action(env).astype(np.float32))
        assert info["success"], f"episode {i}: final distance {info['distance']:.3f} m"
    assert sides == {True, False}  # both IK branches were exercised


def test_reset_info_carries_the_goal_state(env):
    _, info = env.reset(seed=1)
    assert info["goal_joint_pos"].shape == (2,) and np.all(info["goal_joint_vel"] == 0)
    # The goal joint positions put the finger on the target (the goal image shows exactly that).
    scratch = env._scratch
    scratch.qpos[:2] = info["goal_joint_pos"]
    import mujoco

    mujoco.mj_forward(env.model, scratch)
    assert np.linalg.norm(scratch.geom("finger").xpos[:2] - env.goal_pos[:2]) < 1e-6
    for seed in range(6):  # the goal configuration is on the wrist side the arm starts on
        _, info = env.reset(seed=seed)
        assert (info["goal_joint_pos"][1] >= 0) == (env.data.qpos[1] >= 0)


def _red_pixels(image: np.ndarray) -> int:
    r, g, b = (image[..., i].astype(int) for i in range(3))
    return int(np.sum((r > 180) & (g < 130) & (b < 130)))


def test_target_marker_is_hidden_unless_asked_for(env):
    obs, info = env.reset(seed=3)
    assert _red_pixels(obs["image"]) == 0 and _red_pixels(info["goal_image"]) == 0
    shown = gymnasium.make(REACHER.env_id, show_target=True).unwrapped
    obs, info = shown.reset(seed=3)
    assert _red_pixels(obs["image"]) > 20 and _red_pixels(info["goal_image"]) > 20
    shown.close()


@pytest.mark.parametrize("action, bad", [
    ([0.0, 1.0], False), ([-1.0, -1.0], False), ([1.0001, 0.0], True), ([np.nan, 0.0], True),
    ([0.0, np.inf], True), ([0.0], True), ("up", True),
])
def test_action_violation_check(action, bad):
    assert action_violates(action, np.array([-1.0, -1.0]), np.array([1.0, 1.0])) is bad


def test_mpc_feeds_the_trained_proprioception_and_commands_stay_in_the_box(env, tmp_path, monkeypatch):
    import torch

    from jepa_mpc.apps.evaluate import EvalSettings
    from jepa_mpc.models.checkpoint import save_checkpoint
    from jepa_mpc.models.config import EncoderConfig, WorldModelConfig
    from jepa_mpc.models.world_model import WorldModel

    torch.manual_seed(0)
    model = WorldModel(WorldModelConfig(latent_dim=8, action_dim=2,
                                        encoder=EncoderConfig(widths=(8, 16), proprio_dim=2, proprio_key="joint_vel")))
    save_checkpoint(tmp_path / "reacher", model)
    seen = []
    real_encode = WorldModel.encode

    def spy(self, image, proprio=None):
        seen.append(None if proprio is None else proprio.detach().cpu().numpy().copy())
        return real_encode(self, image, proprio)

    monkeypatch.setattr(WorldModel, "encode", spy)
    settings = EvalSettings(env_id=REACHER.env_id, policy="mpc", checkpoint=str(tmp_path / "reacher"),
                            num_samples=16, horizon=3, iterations=1)
    policy = ReacherMPC(settings, env)
    obs, info = env.reset(seed=0)
    policy.reset(env, info)
    np.testing.assert_array_equal(seen[0], np.zeros((1, 2)))  # goal: the arm at rest
    for t in range(3):
        action, ms, _ = policy.act(obs, t)
        assert not action_violates(action, env.action_space.low, env.action_space.high) and ms > 0
        np.testing.assert_allclose(seen[-1][0], obs["joint_vel"])
        obs, *_ = env.step(action.astype(np.float32))
    with pytest.raises(ValueError, match="image"):
        ReacherMPC(EvalSettings(env_id=REACHER.env_id, goal="pose", checkpoint=str(tmp_path / "reacher")), env)


def test_eval_runs_the_reacher_baselines_with_zero_violations():
    from jepa_mpc.apps.evaluate import EvalSettings, evaluate

    oracle, _ = evaluate(EvalSettings(env_id=REACHER.env_id, policy="oracle", max_steps=25), episodes=4)
    rand, _ = evaluate(EvalSettings(env_id=REACHER.env_id, policy="random", max_steps=25), episodes=4)
    assert oracle["success_rate"] == 1.0 and rand["success_rate"] <= 0.5
    assert oracle["violations"] == rand["violations"] == 0
    with pytest.raises(ValueError, match="Panda"):
        evaluate(EvalSettings(env_id=REACHER.env_id, policy="fk-mpc", max_steps=2), episodes=1)


def test_the_shipped_reacher_checkpoint_reaches_image_goals():
    """The default Reacher model (models/checkpoints/dmc_reacher) with the eval's tuned settings closes the loop."""
    from jepa_mpc.apps.evaluate import EvalSettings, evaluate

    tuned = REACHER.planning_for("image")
    settings = EvalSettings(env_id=REACHER.env_id, policy="mpc", num_samples=tuned.samples, horizon=tuned.horizon,
                            iterations=tuned.iterations, goal_mode=tuned.goal_mode,
                            action_weight=tuned.action_weight, max_steps=50, seed=5)
    summary, results = evaluate(settings, episodes=2, workers=1)
    assert summary["success_rate"] == 1.0, [r.final_distance for r in results]
    assert summary["violations"] == 0
