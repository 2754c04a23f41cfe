"""Each cost term on a hand-made rollout, with the expected numbers worked out in comments."""

from __future__ import annotations

import math

import pytest
import torch

from jepa_mpc.planner.action_costs import ActionMagnitude, ActionRate
from jepa_mpc.planner.config import CostConfig, GuardrailConfig
from jepa_mpc.planner.costs import CostStack
from jepa_mpc.planner.goal_costs import Critic, GoalEnergy, PoseGoalFK, PoseGoalProbe
from jepa_mpc.planner.registry import COSTS, CostDeps, build_cost, build_cost_stack
from jepa_mpc.planner.types import BIG_COST, PlanContext, Rollout


def _rollout(z: list, actions: list | None = None, points: torch.Tensor | None = None) -> Rollout:
    z_t = torch.tensor(z, dtype=torch.float32)  # [K, H, D]
    k, h = z_t.shape[:2]
    a = torch.zeros(k, h, 8) if actions is None else torch.tensor(actions, dtype=torch.float32)
    pts = torch.zeros(k, h + 1, 1, 3) if points is None else points
    return Rollout(
        actions=a, z=z_t, q=torch.zeros(k, h + 1, 7), qd=torch.zeros(k, h, 7), points=pts, dt=0.1
    )


def _ctx(z_goal=None, ee_goal=None, prev_action=None) -> PlanContext:
    def t(x):
        return None if x is None else torch.tensor(x, dtype=torch.float32)

    return PlanContext(
        z0=torch.zeros(2),
        q0=torch.zeros(7),
        qd0=torch.zeros(7),
        z_goal=t(z_goal),
        ee_goal=t(ee_goal),
        prev_action=t(prev_action),
    )


# Two samples, H=2, D=2; goal (1, 1).
Z = [
    [[0.0, 0.0], [1.0, 3.0]],  # sample 0: step errors (-1,-1), (0, 2)
    [[1.0, 1.0], [1.0, 1.0]],
]  # sample 1: at the goal


@pytest.mark.parametrize(
    ("norm", "mode", "expected0"),
    [
        ("l1", "terminal", 1.0),  # mean(|0|, |2|) = 1
        ("l2", "terminal", 2.0),  # mean(0, 4) = 2
        ("l1", "trajectory", 1.0),  # steps: mean(1,1)=1, 1 -> mean 1
        ("l2", "trajectory", 1.5),  # steps: 1, 2 -> mean 1.5
        ("l2", "both", 3.5),  # 2 + 1.5
        ("l2", "closest", 1.0),  # steps: 1, 2 -> the closest step, 1
        ("l1", "closest", 1.0),  # steps: 1, 1
    ],
)
def test_goal_energy(norm, mode, expected0):
    cost = GoalEnergy(norm, mode)(_rollout(Z), _ctx(z_goal=[1.0, 1.0]))
    assert cost.tolist() == pytest.approx([expected0, 0.0])


def test_pose_goal_through_a_probe_uses_any_callable():
    def probe(z):
        return torch.cat([z, torch.zeros(z.shape[0], 1)], dim=-1)  # z [N, 2] -> (z0, z1, 0)

    cost = PoseGoalProbe(probe, "terminal")(_rollout(Z), _ctx(ee_goal=[1.0, 3.0, 4.0]))
    # sample 0 last z (1, 3) -> (1, 3, 0): distance 4; sample 1 (1, 1, 0): sqrt(0 + 4 + 16)
    assert cost.tolist() == pytest.approx([4.0, math.sqrt(20.0)], rel=1e-5)


def test_pose_goal_through_fk_reads_the_ee_point():
    points = torch.zeros(1, 3, 2, 3)
    points[0, :, 1] = torch.tensor([[9.0, 9.0, 9.0], [0.0, 0.0, 0.0], [0.3, 0.4, 0.0]])  # EE is point 1
    cost = PoseGoalFK(ee_index=1, mode="trajectory")(
        _rollout([[[0.0], [0.0]]], points=points), _ctx(ee_goal=[0.0, 0.0, 0.0])
    )
    assert cost.tolist() == pytest.approx([0.25])  # step 0 (current state) ignored; mean(0, 0.5)


def test_critic_accepts_n_or_n_by_1():
    critic = Critic(lambda z: z.sum(-1, keepdim=True), "trajectory")
    assert critic(_rollout(Z), _ctx()).tolist() == pytest.approx([2.0, 2.0])  # mean(0, 4) / mean(2, 2)


def test_action_magnitude_and_rate():
    a = [[[1.0] + [0.0] * 7, [-1.0] + [0.0] * 7]]  # K=1, H=2, A=8
    r = _rollout([[[0.0], [0.0]]], actions=a)
    assert ActionMagnitude()(r, _ctx()).tolist() == pytest.approx([2 / 16])  # (1 + 1) / (2 * 8)
    # One step of change 2: 4 / (1 * 8).
    assert ActionRate()(r, _ctx()).tolist() == pytest.approx([4 / 8])
    prev = [1.0] + [0.0] * 7
    # (0 + 4) / (2 * 8)
    assert ActionRate()(r, _ctx(prev_action=prev)).tolist() == pytest.approx([4 / 16])


def test_stack_weights_breakdown_and_nan_sanitising():
    energy, magnitude = GoalEnergy("l2", "terminal"), ActionMagnitude()
    stack = CostStack([(2.0, energy), (0.0, magnitude)], [])
    assert [t.name for _, t in stack.terms] == ["goal_energy"]  # zero weight: not evaluated
    z = [[[0.0, 0.0], [1.0, 3.0]], [[math.nan, 1.0], [math.nan, 1.0]]]
    ev = stack.evaluate(_rollout(z), _ctx(z_goal=[1.0, 1.0]))
    assert ev.soft.tolist() == pytest.approx([4.0, BIG_COST])  # 2 * 2; NaN -> BIG_COST
    assert ev.finite.tolist() == [True, False] and ev.feasible.all()
    assert ev.valid.tolist() == [True, False]
    assert stack.breakdown(_rollout(Z), _ctx(z_goal=[1.0, 1.0]))[
        "cost/goal_energy"
    ].tolist() == pytest.approx([4.0, 0.0])
    assert stack.requires == frozenset({"z_goal"})


def test_registry_fails_loudly(mj_model):
    with pytest.raises(KeyError, match="valid"):
        build_cost("nope", CostConfig(), CostDeps(ee_index=0))
    with pytest.raises(ValueError, match="probe"):
        build_cost("pose_probe", CostConfig(), CostDeps(ee_index=0))
    assert set(COSTS) >= {
        "goal_energy",
        "pose_probe",
        "pose_fk",
        "critic",
        "action_magnitude",
        "action_rate",
    }


def test_build_cost_stack_orders_terms_and_weights(mj_model):
    from jepa_mpc.planner.kinematics import ArmKinematics
    from jepa_mpc.sim.arm_control import ArmControlConfig

    g = GuardrailConfig()
    kin = ArmKinematics(mj_model, g.check_points)
    cfg = CostConfig(
        terms=("action_rate", "goal_energy"), action_rate_weight=0.5, goal_energy_weight=3.0
    )
    stack = build_cost_stack(cfg, g, kin, ArmControlConfig())
    assert [(w, t.name) for w, t in stack.terms] == [(0.5, "action_rate"), (3.0, "goal_energy")]
    assert {c.name for c in stack.constraints} == {
        "joint_position",
        "joint_velocity",
        "joint_acceleration",
        "workspace",
        "table",
    }  # no zones configured
