"""Config validation: every bad field raises ValueError naming the field and the value; defaults match
the brief.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from jepa_mpc.planner.config import (
    BoxZone,
    CEMConfig,
    CostConfig,
    GradientConfig,
    GuardrailConfig,
    MPCConfig,
    SafetyConfig,
    SpeedZone,
    SphereZone,
)
from jepa_mpc.robots import CheckPoint
from jepa_mpc.robots.panda import MAX_JOINT_VEL_RAD_S


def test_defaults_match_the_brief():
    cem, mpc = CEMConfig(), MPCConfig()
    assert (cem.num_samples, mpc.horizon, cem.iterations, cem.elites) == (512, 20, 3, 32)
    assert cem.momentum == pytest.approx(0.1)
    assert (cem.min_std, cem.max_std) == (0.05, 1.0)
    assert mpc.device == "auto" and mpc.compile is False


def test_elite_fraction_overrides_count():
    assert CEMConfig(num_samples=512, elite_fraction=0.1).elites == 51


@pytest.mark.parametrize(
    ("factory", "field", "value"),
    [
        (CEMConfig, "num_samples", 0),
        (CEMConfig, "iterations", 0),
        (CEMConfig, "num_elites", 600),
        (CEMConfig, "momentum", 1.0),
        (CEMConfig, "min_std", -0.1),
        (CEMConfig, "max_std", 0.01),
        (CEMConfig, "elite_fraction", 1.5),
        (GradientConfig, "lr", math.nan),
        (GradientConfig, "steps", 0),
        (GradientConfig, "num_candidates", True),
        (MPCConfig, "optimizer", "mppi"),
        (MPCConfig, "device", "cuda:0x"),
        (MPCConfig, "horizon", 0),
        (MPCConfig, "command_steps", 21),  # more than the horizon (20)
        (MPCConfig, "plan_budget_s", -1.0),
        (CostConfig, "terms", ("goal_energy", "nope")),
        (CostConfig, "goal_norm", "l3"),
        (CostConfig, "goal_energy_weight", -1.0),
        (CostConfig, "push_contact_m", -0.01),
        (CostConfig, "push_gain", 0.0),
        (CostConfig, "push_deadband_m", -0.01),
        (CostConfig, "push_hand_pushes", 1),
        (GuardrailConfig, "joint_margin_rad", math.inf),
        (GuardrailConfig, "max_joint_vel_rad_s", (1.0, 0.0)),
        (GuardrailConfig, "max_joint_acc_rad_s2", (math.nan,)),
        (GuardrailConfig, "joint_lower", "low"),
        (CostConfig, "push_cube_half_m", -0.01),
        (GuardrailConfig, "workspace_lo", (1.0, 0.0, 0.0)),
        (SafetyConfig, "max_obs_age_s", 0.0),
        (SafetyConfig, "state_limit_tol_rad", -1.0),
    ],
)
def test_bad_field_raises_naming_field_and_value(factory, field, value):
    with pytest.raises(ValueError, match=field) as info:
        factory(**{field: value})
    message = str(info.value)
    shown = [repr(value), str(value)] + ([repr(v) for v in value] if isinstance(value, tuple) else [])
    assert any(text in message for text in shown), message


@pytest.mark.parametrize(
    ("factory", "kwargs", "field"),
    [
        (SphereZone, {"center": (0, 0, 0), "radius": 0.0}, "radius"),
        (BoxZone, {"lo": (0, 0, 0), "hi": (1, 1, 0)}, "lo"),
        (SpeedZone, {"zone": "sphere", "max_speed_m_s": 0.1}, "zone"),
        (CheckPoint, {"name": "x", "frame": "y", "radius": -1.0}, "radius"),
    ],
)
def test_zone_validation(factory, kwargs, field):
    with pytest.raises(ValueError, match=field):
        factory(**kwargs)


def test_configs_are_frozen():
    cfg = CEMConfig()
    with pytest.raises(AttributeError):
        cfg.num_samples = 3  # type: ignore[misc]


def test_joint_limits_intersect_and_apply_margin(panda):
    g = GuardrailConfig(joint_lower=(-1.0,) * 7, joint_upper=(5.0,) * 7, joint_margin_rad=0.1)
    limits = g.for_robot(panda)
    np.testing.assert_allclose(limits.lower, np.maximum(panda.lower, -1.0) + 0.1)
    np.testing.assert_allclose(limits.upper, panda.upper - 0.1)  # 5 rad is beyond every joint's range
    np.testing.assert_array_equal(limits.description_lower, panda.lower)
    with pytest.raises(ValueError, match="empty"):
        GuardrailConfig(joint_margin_rad=3.0).for_robot(panda)


def test_joint_vectors_default_to_the_robot_and_must_match_its_joints(panda):
    limits = GuardrailConfig().for_robot(panda)
    np.testing.assert_array_equal(limits.max_velocity, panda.max_velocity)
    np.testing.assert_array_equal(limits.max_acceleration, panda.max_acceleration)
    assert limits.max_velocity.tolist() == list(MAX_JOINT_VEL_RAD_S)  # the Panda's datasheet values
    assert limits.check_points == panda.check_points and limits.ee_index == 0
    assert limits.check_points[0].name == "ee" and limits.radii.shape == limits.table_mask.shape == (25,)
    for field in ("joint_lower", "joint_upper", "max_joint_vel_rad_s", "max_joint_acc_rad_s2"):
        value = (0.5,) * 6 if field != "joint_lower" else (-0.5,) * 6
        with pytest.raises(ValueError, match=field):
            GuardrailConfig(**{field: value}).for_robot(panda)


def test_max_step_is_the_action_step_tightened_by_the_velocity_limit():
    cfg = SafetyConfig()
    step = cfg.max_step_rad(np.array([0.1, 1.0, 10.0]))
    assert step.tolist() == pytest.approx([0.01, 0.05, 0.05])  # 0.1 rad/s x 0.1 s; else the 0.05 rad action step
