"""Config validation: every bad field raises ValueError naming the field and the value; defaults match
the brief.
"""

from __future__ import annotations

import math

import pytest

from jepa_mpc.planner.config import (
    BoxZone,
    CEMConfig,
    CheckPoint,
    CostConfig,
    GradientConfig,
    GuardrailConfig,
    MPCConfig,
    SafetyConfig,
    SpeedZone,
    SphereZone,
)


def test_defaults_match_the_brief():
    cem, mpc = CEMConfig(), MPCConfig()
    assert (cem.num_samples, mpc.horizon, cem.iterations, cem.elites) == (512, 10, 3, 32)
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
        (MPCConfig, "command_steps", 11),
        (MPCConfig, "plan_budget_s", -1.0),
        (CostConfig, "terms", ("goal_energy", "nope")),
        (CostConfig, "goal_norm", "l3"),
        (CostConfig, "goal_energy_weight", -1.0),
        (CostConfig, "push_contact_m", -0.01),
        (CostConfig, "push_gain", 0.0),
        (CostConfig, "push_deadband_m", -0.01),
        (CostConfig, "push_hand_pushes", 1),
        (GuardrailConfig, "joint_margin_rad", math.inf),
        (GuardrailConfig, "max_joint_vel_rad_s", (1.0,) * 6),
        (GuardrailConfig, "workspace_lo", (1.0, 0.0, 0.0)),
        (GuardrailConfig, "ee_point", "toe"),
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


def test_joint_limits_intersect_and_apply_margin():
    g = GuardrailConfig(joint_lower=(-1.0,) * 7, joint_upper=(5.0,) * 7, joint_margin_rad=0.1)
    lower, upper = g.joint_limits([-2.0] * 7, [2.0] * 7)
    assert lower.tolist() == pytest.approx([-0.9] * 7) and upper.tolist() == pytest.approx([1.9] * 7)
    with pytest.raises(ValueError, match="empty"):
        GuardrailConfig(joint_margin_rad=3.0).joint_limits([-2.0] * 7, [2.0] * 7)
