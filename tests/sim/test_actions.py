"""Action bounds: whatever the action, a control step moves joint targets by at most the configured step."""
from __future__ import annotations

import gymnasium
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jepa_mpc.sim  # noqa: F401
from jepa_mpc.robots.arm_control import ArmControlConfig, next_joint_targets

floats = st.floats(allow_nan=True, allow_infinity=True, width=64)


@pytest.fixture(scope="module")
def reach_env():
    env = gymnasium.make("jepa_mpc/PandaReach-v0").unwrapped
    yield env
    env.close()


@settings(max_examples=40, deadline=None)
@given(action=st.lists(floats, min_size=8, max_size=8))
def test_any_action_moves_targets_at_most_one_step(reach_env, action):
    reach_env.reset(seed=0)
    before = reach_env.joint_targets
    reach_env.step(np.array(action))
    after = reach_env.joint_targets
    step = reach_env.control.max_joint_step_rad
    assert np.all(np.isfinite(after))
    assert np.all(np.abs(after - before) <= step + 1e-12)
    assert np.all(after >= reach_env.joint_lower) and np.all(after <= reach_env.joint_upper)
    nan_mask = ~np.isfinite(np.array(action[:7]))
    finite_nan_free = np.nan_to_num(np.array(action[:7]), nan=0.0, posinf=1.0, neginf=-1.0)
    expected = np.clip(before + np.clip(finite_nan_free, -1, 1) * step, reach_env.joint_lower, reach_env.joint_upper)
    expected[nan_mask & np.isnan(np.array(action[:7]))] = before[nan_mask & np.isnan(np.array(action[:7]))]
    np.testing.assert_allclose(after, expected, atol=1e-12)


def test_full_scale_action_moves_by_exactly_one_step(reach_env):
    reach_env.reset(seed=1)
    before = reach_env.joint_targets
    reach_env.step(np.r_[np.full(7, 5.0), 0.0])  # out of bounds: clipped to +1
    moved = reach_env.joint_targets - before
    at_limit = np.isclose(reach_env.joint_targets, reach_env.joint_upper)
    np.testing.assert_allclose(moved[~at_limit], reach_env.control.max_joint_step_rad)


def test_arm_tracks_commanded_targets(reach_env):
    """The position actuators follow the targets: after a few steps of no motion the arm sits at the targets."""
    reach_env.reset(seed=2)
    for _ in range(5):
        reach_env.step(np.r_[np.full(7, 0.5), 0.0])
    for _ in range(10):
        reach_env.step(np.zeros(8))
    assert np.max(np.abs(reach_env.arm_qpos - reach_env.joint_targets)) < 0.02


@pytest.mark.parametrize("shape", [(7,), (9,), (2, 8)])
def test_wrong_action_shape_raises(reach_env, shape):
    reach_env.reset(seed=0)
    with pytest.raises(ValueError, match="shape"):
        reach_env.step(np.zeros(shape))


def test_control_config_validation():
    with pytest.raises(ValueError, match="integer multiple"):
        ArmControlConfig(control_period_s=0.1, physics_dt_s=0.003)
    with pytest.raises(ValueError, match="max_joint_step_rad"):
        ArmControlConfig(max_joint_step_rad=-1.0)
    assert ArmControlConfig().n_substeps == 50


def test_next_joint_targets_clips_to_limits():
    cfg = ArmControlConfig()
    lower, upper = -np.ones(7), np.ones(7)
    out = next_joint_targets(np.full(7, 0.99), np.ones(8), lower, upper, cfg)
    np.testing.assert_array_equal(out, upper)
