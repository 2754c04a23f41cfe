"""Every registered environment passes gymnasium's checker and follows the shared observation/goal convention."""
from __future__ import annotations

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import jepa_mpc.sim
from jepa_mpc.sim import ENV_IDS

OBS_KEYS = {"image", "joint_pos", "joint_vel", "ee_pos", "ee_quat", "goal_pos"}


@pytest.fixture(params=sorted(ENV_IDS))
def env(request):
    env = gymnasium.make(request.param)
    yield env
    env.close()


def test_check_env_passes(env):
    check_env(env.unwrapped, skip_render_check=True)


def test_observation_and_goal_convention(env):
    obs, info = env.reset(seed=3)
    assert set(obs) == OBS_KEYS
    assert obs["image"].dtype == np.uint8 and obs["image"].shape == (64, 64, 3)
    assert info["goal_image"].shape == (64, 64, 3) and info["goal_image"].dtype == np.uint8
    # The goal image shows a different scene from the start (otherwise it carries no goal information).
    assert np.abs(info["goal_image"].astype(int) - obs["image"].astype(int)).sum() > 0
    np.testing.assert_allclose(obs["goal_pos"], env.unwrapped.goal_pos, atol=1e-6)
    assert info["success"] == (info["distance"] <= env.unwrapped.tolerance_m)


@pytest.mark.parametrize("env_id", sorted(ENV_IDS))
def test_same_seed_same_episode(env_id):
    """Two environments reset with one seed and fed one action sequence produce identical observations."""
    runs = []
    for _ in range(2):
        env = gymnasium.make(env_id)
        obs, _ = env.reset(seed=42)
        trace = [obs]
        actions = np.random.default_rng(1).uniform(-1, 1, (5, *env.action_space.shape)).astype(np.float32)
        for a in actions:
            trace.append(env.step(a)[0])
        env.close()
        runs.append(trace)
    for a, b in zip(*runs, strict=True):
        for key in OBS_KEYS:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)


@pytest.mark.parametrize("env_id", sorted(ENV_IDS))
def test_different_seeds_different_goals(env_id):
    env = gymnasium.make(env_id)
    goals = {tuple(np.round(env.reset(seed=s)[0]["goal_pos"], 4)) for s in range(4)}
    env.close()
    assert len(goals) == 4


def test_panda_image_size_and_camera_are_parameters():
    from jepa_mpc.sim.panda_scene import CameraConfig

    default = gymnasium.make("jepa_mpc/PandaReach-v0", image_size=32)
    moved = gymnasium.make("jepa_mpc/PandaReach-v0", image_size=32, camera=CameraConfig(pos=(0.5, -1.5, 0.8)))
    a, b = default.reset(seed=0)[0]["image"], moved.reset(seed=0)[0]["image"]
    default.close()
    moved.close()
    assert a.shape == (32, 32, 3)
    assert np.abs(a.astype(int) - b.astype(int)).mean() > 5  # a different viewpoint, a different picture


@pytest.mark.parametrize("kwargs", [dict(pos=(0, 0, 1), lookat=(0, 0, 1)), dict(pos=(np.nan, 0, 1)),
                                    dict(fovy_deg=0.0)])
def test_camera_config_rejects_bad_values(kwargs):
    from jepa_mpc.sim.panda_scene import CameraConfig

    with pytest.raises(ValueError):
        CameraConfig(**kwargs)


@pytest.mark.parametrize("bad", [0, 8, 1000, 64.0])
def test_panda_rejects_bad_image_size(bad):
    with pytest.raises(ValueError, match="image_size"):
        gymnasium.make("jepa_mpc/PandaReach-v0", image_size=bad)


def test_envs_registered_on_import():
    assert set(jepa_mpc.sim.ENV_IDS) <= set(gymnasium.registry)
