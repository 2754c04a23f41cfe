"""Each cost term on a hand-made rollout, with the expected numbers worked out in comments."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from jepa_mpc.planner.action_costs import ActionMagnitude, ActionRate
from jepa_mpc.planner.config import CostConfig, GuardrailConfig
from jepa_mpc.planner.costs import CostStack
from jepa_mpc.planner.goal_costs import Critic, CubePush, GoalEnergy, PoseGoalFK, PoseGoalProbe
from jepa_mpc.planner.registry import COSTS, CostDeps, build_cost, build_cost_stack
from jepa_mpc.planner.types import BIG_COST, PlanContext, Rollout

from .conftest import ARMS


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


def test_cube_push_scores_cube_progress_and_the_pushing_spot():
    # The probe reads the cube's table position straight off z. Cube now (0, 0), goal (0.1, 0): heading +x, so
    # the pushing spot is 7 cm behind the predicted cube, at 5 cm height.
    push = CubePush(lambda z: z, ee_index=0, approach=0.5, behind_m=0.07, push_z_m=0.05, gripper_max_m=0.0,
                    dof=7, cube_half_m=0.025, mode="terminal")
    points = torch.zeros(2, 2, 1, 3)
    points[0, 1, 0] = torch.tensor([-0.02, 0.0, 0.05])  # sample 0: cube pushed to (0.05, 0), EE on its spot
    points[1, 1, 0] = torch.tensor([-0.07, 0.0, 0.15])  # sample 1: cube still, EE 10 cm above its spot
    ctx = dataclasses.replace(_ctx(z_goal=[0.1, 0.0]), z0=torch.zeros(2))
    cost = push(_rollout([[[0.05, 0.0]], [[0.0, 0.0]]], points=points), ctx)
    assert cost.tolist() == pytest.approx([0.05, 0.1 + 0.5 * 0.1], abs=1e-6)


def test_cube_push_funnel_keeps_the_hand_high_until_behind_the_cube():
    # Cube 1 cm short of its goal (heading +x, spot 7 cm behind the cube, at x = 0.02). The height goal is the push
    # height plus the distance to the spot: 3 cm short of it, the hand should be 3 cm above push height.
    push = CubePush(lambda z: z, ee_index=0, approach=1.0, behind_m=0.07, push_z_m=0.05, gripper_max_m=0.0,
                    dof=7, cube_half_m=0.025, mode="terminal")
    points = torch.zeros(2, 2, 1, 3)
    points[0, 1, 0] = torch.tensor([0.02 - 0.03, 0.0, 0.08])  # 3 cm short of the spot, 3 cm up: on the funnel
    points[1, 1, 0] = torch.tensor([0.02 - 0.03, 0.0, 0.05])  # 3 cm short of the spot, at push height: 3 cm low
    ctx = dataclasses.replace(_ctx(z_goal=[0.1, 0.0]), z0=torch.tensor([0.09, 0.0]))
    cost = push(_rollout([[[0.09, 0.0]], [[0.09, 0.0]]], points=points), ctx)
    assert cost.tolist() == pytest.approx([0.01 + 0.03, 0.01 + 0.03 + 0.03], abs=1e-6)


def test_cube_push_spot_moves_with_the_predicted_cube():
    # Over two steps the model pushes the cube 2 then 4 cm towards the goal; a hand that stays on the spot behind
    # it pays no approach cost, one that stays where the spot was at the start pays 2 and 4 cm (mean 3).
    push = CubePush(lambda z: z, ee_index=0, approach=1.0, behind_m=0.07, push_z_m=0.0, gripper_max_m=0.0,
                    dof=7, cube_half_m=0.025, mode="terminal")
    points = torch.zeros(2, 3, 1, 3)
    points[0, 1:, 0] = torch.tensor([[-0.05, 0.0, 0.0], [-0.03, 0.0, 0.0]])
    points[1, 1:, 0] = torch.tensor([[-0.07, 0.0, 0.02], [-0.07, 0.0, 0.04]])  # on the funnel, but left behind
    ctx = dataclasses.replace(_ctx(z_goal=[0.1, 0.0]), z0=torch.zeros(2))
    cost = push(_rollout([[[0.02, 0.0], [0.04, 0.0]]] * 2, points=points), ctx)
    assert cost.tolist() == pytest.approx([0.06, 0.06 + 0.03], abs=1e-6)


@pytest.mark.parametrize("dof", [7, 6])
def test_cube_push_prefers_a_closed_hand(dof):
    # Same rollout, gripper action -1 (closed), 0 (half open) or +1 (open): finger gap 0, 4 or 8 cm, times approach.
    # The gripper entry follows the arm's joint steps (index 7 on the Panda, 6 on a six-joint arm).
    push = CubePush(lambda z: z, ee_index=0, approach=0.5, behind_m=0.07, push_z_m=0.0, gripper_max_m=0.04, dof=dof,
                    cube_half_m=0.025)
    actions = torch.zeros(3, 1, dof + 1)
    actions[:, 0, dof] = torch.tensor([-1.0, 0.0, 1.0])
    points = torch.zeros(3, 2, 1, 3)
    points[:, 1, 0] = torch.tensor([-0.07, 0.0, 0.0])  # every sample's hand on its spot
    rollout = dataclasses.replace(_rollout([[[0.0, 0.0]]] * 3, points=points), actions=actions)
    cost = push(rollout, dataclasses.replace(_ctx(z_goal=[0.1, 0.0]), z0=torch.zeros(2)))
    assert cost.tolist() == pytest.approx([0.1, 0.1 + 0.5 * 0.04, 0.1 + 0.5 * 0.08], abs=1e-6)
    no_gripper = dataclasses.replace(rollout, actions=actions[..., :dof])  # an arm without a gripper entry
    assert push(no_gripper, dataclasses.replace(_ctx(z_goal=[0.1, 0.0]), z0=torch.zeros(2))).tolist() == (
        pytest.approx([0.1] * 3, abs=1e-6))


@pytest.mark.parametrize("left_m, weight", [(0.10, 1.0), (0.04, 1.0), (0.02, 0.5), (0.0, 0.0)])
def test_cube_push_lets_go_of_a_delivered_cube(left_m, weight):
    # The cube is left_m short of its goal and stays; the hand stays too, 10 cm from its spot. Beyond settle_m (4 cm)
    # the hand pays the full approach weight for being off the spot, inside it a linearly smaller one, at the goal
    # none; what fades in instead, the hand's distance from where it is now, is zero for a hand that stays.
    push = CubePush(lambda z: z, ee_index=0, approach=1.0, behind_m=0.07, push_z_m=0.0, gripper_max_m=0.0,
                    dof=7, cube_half_m=0.025, settle_m=0.04)
    cube = [0.1 - left_m, 0.0]
    points = torch.zeros(1, 2, 1, 3)
    points[0, :, 0] = torch.tensor([cube[0] - 0.07, 0.1, 0.1])  # 10 cm beside the spot, on the funnel, still
    ctx = dataclasses.replace(_ctx(z_goal=[0.1, 0.0]), z0=torch.tensor(cube))
    cost = push(_rollout([[cube]], points=points), ctx)
    assert cost.tolist() == pytest.approx([left_m + weight * 0.1], abs=1e-5)


def test_cube_push_holds_the_hand_still_at_the_goal():
    # Cube at its goal: moving the hand 5 cm costs approach x 5 cm (mean over the plan), staying costs nothing.
    push = CubePush(lambda z: z, ee_index=0, approach=0.5, behind_m=0.07, push_z_m=0.0, gripper_max_m=0.0,
                    dof=7, cube_half_m=0.025, settle_m=0.04)
    points = torch.zeros(2, 2, 1, 3)
    points[1, 1, 0] = torch.tensor([0.0, 0.05, 0.0])  # sample 1 moves the hand 5 cm sideways
    ctx = dataclasses.replace(_ctx(z_goal=[0.1, 0.0]), z0=torch.tensor([0.1, 0.0]))
    cost = push(_rollout([[[0.1, 0.0]]] * 2, points=points), ctx)
    assert cost.tolist() == pytest.approx([0.0, 0.5 * 0.05], abs=1e-5)


def test_cube_push_contact_gate_moves_the_cube_only_once_touched():
    # The model predicts the cube 3 then 4 cm towards its goal (0.1, 0) in every sample. Only a hand that comes
    # within contact_m (6 cm, table plane) and low enough (under push height + one cube height) moves it; once
    # touched it stays moved even if the hand leaves. Per step goal distances (trajectory mode, approach 0):
    push = CubePush(lambda z: z, ee_index=0, approach=0.0, behind_m=0.07, push_z_m=0.05, gripper_max_m=0.0,
                    dof=7, cube_half_m=0.025, contact_m=0.06, mode="trajectory")
    points = torch.zeros(4, 3, 1, 3)
    points[0, 1:, 0] = torch.tensor([[-0.30, 0.0, 0.05], [-0.30, 0.0, 0.05]])  # far away: the cube stays
    points[1, 1:, 0] = torch.tensor([[-0.03, 0.0, 0.05], [-0.30, 0.0, 0.05]])  # touches at step 1, then leaves
    points[2, 1:, 0] = torch.tensor([[-0.03, 0.0, 0.20], [-0.03, 0.0, 0.20]])  # right above it: no contact
    points[3, 1:, 0] = torch.tensor([[-0.30, 0.0, 0.05], [-0.03, 0.0, 0.05]])  # touches at step 2 only
    ctx = dataclasses.replace(_ctx(z_goal=[0.1, 0.0]), z0=torch.zeros(2))
    cost = push(_rollout([[[0.03, 0.0], [0.04, 0.0]]] * 4, points=points), ctx)
    assert cost.tolist() == pytest.approx([0.1, (0.07 + 0.06) / 2, 0.1, (0.1 + 0.06) / 2], abs=1e-3)


def test_cube_push_contact_gate_passes_gradients_to_the_hand():
    # The gradient planners need a slope: near the gate's edge, moving the hand towards the cube lowers the cost
    # when the model predicts the cube moving towards its goal.
    push = CubePush(lambda z: z, ee_index=0, approach=0.0, behind_m=0.07, push_z_m=0.05, gripper_max_m=0.0,
                    dof=7, cube_half_m=0.025, contact_m=0.06)
    points = torch.zeros(1, 2, 1, 3)
    points[0, 1, 0] = torch.tensor([-0.06, 0.0, 0.05])
    points.requires_grad_(True)
    ctx = dataclasses.replace(_ctx(z_goal=[0.1, 0.0]), z0=torch.zeros(2))
    push(_rollout([[[0.03, 0.0]]], points=points), ctx).sum().backward()
    assert points.grad[0, 1, 0, 0] < 0  # cost falls as the hand moves +x, towards the cube


def test_cube_push_gain_scales_the_predicted_push_after_the_gate():
    # The model pushes the cube 3 cm towards its goal 10 cm away; with gain 2 that counts as 6 cm (4 cm left), for
    # a hand at the cube; for a hand far from it the gate keeps the cube still whatever the gain.
    push = CubePush(lambda z: z, ee_index=0, approach=0.0, behind_m=0.07, push_z_m=0.05, gripper_max_m=0.0,
                    dof=7, cube_half_m=0.025, contact_m=0.06, gain=2.0, mode="terminal")
    points = torch.zeros(2, 2, 1, 3)
    points[0, 1, 0] = torch.tensor([-0.03, 0.0, 0.05])
    points[1, 1, 0] = torch.tensor([-0.30, 0.0, 0.05])
    ctx = dataclasses.replace(_ctx(z_goal=[0.1, 0.0]), z0=torch.zeros(2))
    cost = push(_rollout([[[0.03, 0.0]]] * 2, points=points), ctx)
    assert cost.tolist() == pytest.approx([0.04, 0.1], abs=1e-3)


def test_cube_push_goal_is_a_region():
    # With a 2.5 cm dead band, a cube 1 or 2.5 cm from its goal is done (cost 0); one 5 cm away is 2.5 cm short.
    push = CubePush(lambda z: z, ee_index=0, approach=0.0, behind_m=0.07, push_z_m=0.05, gripper_max_m=0.0,
                    dof=7, cube_half_m=0.025, deadband_m=0.025, mode="terminal")
    cubes = [[0.09, 0.0], [0.1, 0.025], [0.05, 0.0]]
    ctx = dataclasses.replace(_ctx(z_goal=[0.1, 0.0]), z0=torch.zeros(2))
    cost = push(_rollout([[c] for c in cubes]), ctx)
    assert cost.tolist() == pytest.approx([0.0, 0.0, 0.025], abs=1e-6)


def test_cube_push_credits_only_what_the_hand_pushes():
    # With hand_pushes only predicted cube motion along the hand's travel, with the cube ahead of where the hand
    # started, counts (approach 0, no contact gate, last step). Goal (0.1, 0), cube now at (0, 0).
    push = CubePush(lambda z: z, ee_index=0, approach=0.0, behind_m=0.07, push_z_m=0.05, gripper_max_m=0.0,
                    dof=7, cube_half_m=0.025, hand_pushes=True, mode="terminal")
    predicted = [[0.03, 0.0], [-0.03, 0.0], [0.03, 0.0], [0.03, 0.0], [0.03, 0.0]]  # the model's cube, per sample
    points = torch.zeros(5, 2, 1, 3)
    points[0, :, 0] = torch.tensor([[-0.05, 0.0, 0.05], [-0.02, 0.0, 0.05]])  # behind it, pushing +x: all of it
    points[1, :, 0] = torch.tensor([[-0.03, 0.0, 0.05], [-0.06, 0.0, 0.05]])  # backing off, cube "follows": none
    points[2, :, 0] = torch.tensor([[0.05, 0.0, 0.05], [0.02, 0.0, 0.05]])  # ahead of it, shoving it back: none
    points[3, :, 0] = torch.tensor([[-0.05, -0.03, 0.05], [-0.02, 0.0, 0.05]])  # at 45 degrees: cos 45 of it
    points[4, :, 0] = torch.tensor([[-0.03, 0.0, 0.05], [-0.03, 0.0, 0.05]])  # still: none
    points.requires_grad_(True)
    ctx = dataclasses.replace(_ctx(z_goal=[0.1, 0.0]), z0=torch.zeros(2))
    rollout = _rollout([[p] for p in predicted], points=points)
    cost = push(rollout, ctx)
    # Sample 3: 3 cm projected on (1, 1)/sqrt(2) is 2.12 cm, along that diagonal: the cube ends at (0.015, 0.015).
    diagonal = math.hypot(0.1 - 0.015, 0.015)
    assert cost.tolist() == pytest.approx([0.07, 0.1, 0.1, diagonal, 0.1], abs=1e-3)
    cost.sum().backward()
    assert torch.isfinite(points.grad).all()  # the still hand (zero travel) too
    # Without the prior every sample gets the model's whole prediction.
    loose = CubePush(lambda z: z, ee_index=0, approach=0.0, behind_m=0.07, push_z_m=0.05, gripper_max_m=0.0,
                     dof=7, cube_half_m=0.025, mode="terminal")
    assert loose(rollout, ctx).tolist() == pytest.approx([0.07, 0.13, 0.07, 0.07, 0.07], abs=1e-6)


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


def test_registry_fails_loudly():
    with pytest.raises(KeyError, match="valid"):
        build_cost("nope", CostConfig(), CostDeps(ee_index=0, dof=7))
    with pytest.raises(ValueError, match="probe"):
        build_cost("pose_probe", CostConfig(), CostDeps(ee_index=0, dof=7))
    with pytest.raises(ValueError, match="cube_probe"):
        build_cost("cube_push", CostConfig(), CostDeps(ee_index=0, dof=7))
    assert set(COSTS) >= {
        "goal_energy",
        "pose_probe",
        "pose_fk",
        "critic",
        "action_magnitude",
        "action_rate",
    }


def test_build_cost_stack_orders_terms_and_weights(panda):
    from jepa_mpc.robots.arm_control import ArmControlConfig

    g = GuardrailConfig()
    cfg = CostConfig(
        terms=("action_rate", "goal_energy"), action_rate_weight=0.5, goal_energy_weight=3.0
    )
    stack = build_cost_stack(cfg, g, panda.kinematics(), ArmControlConfig(), panda)
    assert [(w, t.name) for w, t in stack.terms] == [(0.5, "action_rate"), (3.0, "goal_energy")]
    assert {c.name for c in stack.constraints} == {
        "joint_position",
        "joint_velocity",
        "joint_acceleration",
        "workspace",
        "table",
    }  # no zones configured


def test_build_cost_stack_needs_the_robots_points(panda):
    from jepa_mpc.robots.arm_control import ArmControlConfig

    kin = panda.kinematics(panda.check_points[:3])
    with pytest.raises(ValueError, match="check points"):
        build_cost_stack(CostConfig(), GuardrailConfig(), kin, ArmControlConfig(), panda)


@ARMS
def test_the_registry_gives_cube_push_the_arms_joint_count(robot):
    from jepa_mpc.robots.arm_control import ArmControlConfig

    stack = build_cost_stack(CostConfig(terms=("cube_push",)), GuardrailConfig(), robot.kinematics(),
                             ArmControlConfig(), robot, cube_probe=lambda z: z[:, :2])
    ((_, push),) = stack.terms
    assert push.dof == robot.dof and push.ee_index == 0
    assert push.cube_half_m == CostConfig().push_cube_half_m
