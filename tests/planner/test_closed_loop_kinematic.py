"""Closed loop without a simulator, on every arm tested: MPC (NullWorldModel: pose goals through the Robot's
FK only) -> safety filter -> an arm that follows its joint targets exactly (the arm's action semantics).

Checks the planner end to end for an arm it was not written for: it reaches a pose goal, every command it
sends keeps every guardrail (ground truth: MuJoCo's kinematics of the Robot's model), and a keep-out zone
around the goal is never entered by any check sphere.
"""

from __future__ import annotations

import numpy as np
import pytest

from jepa_mpc.planner.config import CEMConfig, CostConfig, GuardrailConfig, MPCConfig, SphereZone
from jepa_mpc.planner.kinematic_model import NullWorldModel
from jepa_mpc.planner.mpc import Observation, RecedingHorizonMPC
from jepa_mpc.robots.arm_control import ArmControlConfig

from .conftest import ARMS, truth_for

CFG = MPCConfig(horizon=6, device="cpu", cem=CEMConfig(num_samples=128, iterations=3, num_elites=12, seed=0))
COSTS = CostConfig(terms=("pose_fk", "action_rate"), pose_fk_weight=10.0)
IMAGE = np.zeros((8, 8, 3), dtype=np.uint8)
DT = ArmControlConfig().control_period_s


def _goal(robot) -> tuple[np.ndarray, float]:
    """A reachable tool position 15-30 cm from the home tool point (FK of a nearby configuration that keeps the
    default guardrails), and its distance from home."""
    truth, rng = truth_for(robot), np.random.default_rng(0)
    ee0 = truth.ee(truth.home)
    lower, upper = truth.limits(GuardrailConfig())
    for _ in range(200):
        q = np.clip(truth.home + rng.uniform(-0.5, 0.5, robot.dof), lower, upper)
        goal = truth.ee(q)
        distance = float(np.linalg.norm(goal - ee0))
        if 0.15 < distance < 0.3 and truth.violations(GuardrailConfig(), q, q[None], check_acc=False) == []:
            return goal, distance
    raise AssertionError("no reachable goal found")


def _run(robot, guardrails: GuardrailConfig, goal: np.ndarray, steps: int):
    """(tool distances to the goal after each tick, joint targets sent [T, J], joint velocities [T, J])."""
    truth = truth_for(robot)
    action_dim = robot.dof + 1 if robot.name == "panda" else robot.dof  # with and without a gripper entry
    mpc = RecedingHorizonMPC.build(NullWorldModel(action_dim), CFG, COSTS, guardrails, robot=robot)
    mpc.set_goal(ee_goal=goal)
    q, qd = truth.home.copy(), np.zeros(robot.dof)
    distances, sent = [], []
    for t in range(steps):
        tick = mpc.step(Observation(IMAGE, q, stamp_s=DT * t, q_target=q, qd_target=qd), now_s=DT * t + 0.01)
        command = tick.command.joint_targets
        target = command[0] if len(command) else q  # a hold re-sends where the arm is
        qd, q = (target - q) / DT, target
        sent.append(q)
        distances.append(float(np.linalg.norm(truth.ee(q) - goal)))
    return np.array(distances), np.array(sent)


@ARMS
def test_reaches_a_pose_goal_and_every_command_keeps_the_guardrails(robot):
    goal, start = _goal(robot)
    g = GuardrailConfig()
    distances, sent = _run(robot, g, goal, steps=40)
    assert distances[-1] < 0.01, (start, distances)  # 15-30 cm away at the start; within 1 cm after 4 s
    truth = truth_for(robot)
    assert truth.violations(g, truth.home, sent) == []  # velocities and accelerations included


@ARMS
def test_keep_out_zone_around_the_goal_is_never_entered(robot):
    goal, start = _goal(robot)
    truth = truth_for(robot)
    # up to 6 cm, but 1 cm clear of the arm at home: an arm that starts inside a zone is held, not tested here
    room = truth.clearance(GuardrailConfig(), truth.home, SphereZone(tuple(goal), 1e-6)) + 1e-6
    zone = SphereZone(tuple(goal), min(0.06, room - 0.01))
    g = GuardrailConfig(keep_out=(zone,))
    distances, sent = _run(robot, g, goal, steps=30)
    assert truth.violations(g, truth.home, sent) == []
    clearance = [truth.clearance(g, q, zone) for q in sent]
    assert min(clearance) >= 0.0  # no check sphere (nor the tool point) ever inside
    assert distances.min() >= zone.radius
    assert clearance[-1] < 0.02 and distances[-1] < start, (clearance, distances)  # it went up to the zone


@pytest.mark.parametrize("action_dim", [6, 8])
def test_null_world_model_needs_the_arm_joints_in_its_actions(panda, action_dim):
    if action_dim < panda.dof:
        with pytest.raises(ValueError, match="arm joints"):
            RecedingHorizonMPC.build(NullWorldModel(action_dim), CFG, COSTS, robot=panda)
    else:
        assert RecedingHorizonMPC.build(NullWorldModel(action_dim), CFG, COSTS, robot=panda).dof == 7
