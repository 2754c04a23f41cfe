"""Exploration policies for data collection: smooth random motion plus scripted reaching and pushing.

Each episode runs one policy, drawn from a mixture (see `POLICY_MIXES`), so the data covers free motion,
goal-directed motion and cube contact:
- random: temporally correlated noise a_t = 0.8 a_{t-1} + 0.6 eps_t, eps ~ N(0, I), clipped to [-1, 1].
- reach: scripted steps of the end effector towards a target (the episode's goal for reach tasks, else a random
  workspace point, re-drawn on arrival; the env's `reach_action`), plus N(0, 0.3^2) action noise.
- push: move above a point behind the cube (w.r.t. the goal), lower to cube height, push through towards the
  goal; gripper closed; N(0, 0.2^2) noise. Only for the push task. With `go_home` (`jepa-mpc collect --push-home`),
  once the cube is at the goal the arm lifts and goes home, so the data shows what a Push goal image shows: the
  cube at its goal, the arm at home (docs/experiments.md, "Push").
"""
from __future__ import annotations

import numpy as np

from jepa_mpc.robots.panda import ACTION_DIM
from jepa_mpc.robots.panda import DOF as ARM_DOF
from jepa_mpc.sim.panda_scene import HOME_QPOS

POLICY_MIXES = {
    "reach": {"random": 0.3, "reach": 0.7},
    "push": {"random": 0.2, "reach": 0.2, "push": 0.6},
    "reacher": {"random": 0.5, "reach": 0.5},
}


class RandomPolicy:
    """Temporally correlated random actions."""

    name = "random"

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.prev = None

    def __call__(self, env, obs) -> np.ndarray:
        dim = env.action_space.shape[0]
        prev = np.zeros(dim) if self.prev is None else self.prev
        self.prev = np.clip(0.8 * prev + 0.6 * self.rng.standard_normal(dim), -1.0, 1.0)
        return self.prev.astype(np.float32)


class ReachPolicy:
    """Scripted reaching to the goal (reach task) or to random workspace points."""

    name = "reach"

    def __init__(self, rng: np.random.Generator, follow_goal: bool) -> None:
        self.rng = rng
        self.follow_goal = follow_goal
        self.target = None

    def __call__(self, env, obs) -> np.ndarray:
        if self.target is None:
            self.target = env.goal_pos.copy() if self.follow_goal else env.sample_workspace_point(self.rng)
        if np.linalg.norm(env.ee_pos - self.target) < 0.03:  # arrived: wander on to another point
            self.target = env.sample_workspace_point(self.rng)
        arm = env.reach_action(self.target)
        action = self.rng.uniform(-1, 1, env.action_space.shape[0])  # last entry (gripper) stays random
        action[: len(arm)] = arm + 0.3 * self.rng.standard_normal(len(arm))
        return np.clip(action, -1, 1).astype(np.float32)


PUSH_EE_Z = 0.05
"""End-effector site height while pushing: the closed fingertips then touch the table (the site is about 5 cm above
them), so they meet the 5 cm cube low."""
PUSH_DONE_M = 0.04
"""Cube this close to the goal: stop pushing (inside the 5 cm success tolerance; tighter targets make the push
flip between pushing and repositioning, which knocks the cube away)."""


def cube_delivered(env) -> bool:
    """Is the cube within PUSH_DONE_M of its goal (table plane)?"""
    return bool(np.linalg.norm(env.goal_pos[:2] - env.cube_pos[:2]) < PUSH_DONE_M)


def push_waypoint(env) -> np.ndarray:
    """Next end-effector waypoint [3] of the scripted push: above a point behind the cube (w.r.t. the goal),
    down to the table, then through the cube towards the goal; stay put once the cube is at the goal."""
    cube, goal, ee = env.cube_pos, env.goal_pos, env.ee_pos
    if cube_delivered(env):
        return ee.copy()
    direction = goal[:2] - cube[:2]
    direction /= max(np.linalg.norm(direction), 1e-6)
    behind = cube[:2] - 0.07 * direction
    lateral_err = np.linalg.norm(ee[:2] - behind)
    if lateral_err > 0.03 and ee[2] < 0.08:  # lift before repositioning, so the cube is not knocked
        return np.r_[ee[:2], 0.12]
    if lateral_err > 0.03:
        return np.r_[behind, 0.10]
    if ee[2] > PUSH_EE_Z + 0.01:
        return np.r_[behind, PUSH_EE_Z]
    return np.r_[cube[:2] + 0.05 * direction, PUSH_EE_Z]


RETREAT_Z = 0.12
"""Going home after a push: first lift the end effector straight up to this height, clear of the cube."""


def retreat_action(env) -> np.ndarray:
    """Arm action [7] after a delivered push: up to RETREAT_Z, then joint by joint towards HOME_QPOS. The lift is
    taken 2 cm at a time from where the arm is: one step to RETREAT_Z saturated joints, which bent the motion into
    the push (4 of 10 delivered cubes carried on, 1 of 10 now; an arm still pressing into the table, its targets
    far ahead of it, can carry the cube on either way)."""
    step = env.control.max_joint_step_rad
    ee = env.ee_pos
    lifted = ee[2] >= RETREAT_Z - 0.01
    wanted = HOME_QPOS if lifted else env.arm_qpos + env.reach_action(ee + (0.0, 0.0, 0.02)) * step  # 2 cm up
    return np.clip((wanted - env.joint_targets) / step, -1.0, 1.0)


class PushPolicy:
    """Scripted pushing along `push_waypoint`, gripper closed, with action noise of std `noise`. With `go_home`
    (data collection), a delivered cube is left for home (`retreat_action`) instead of staying put."""

    name = "push"

    def __init__(self, rng: np.random.Generator, noise: float = 0.2, go_home: bool = False) -> None:
        self.rng = rng
        self.noise = noise
        self.go_home = go_home
        self.delivered = False

    def __call__(self, env, obs) -> np.ndarray:
        action = np.zeros(ACTION_DIM)
        self.delivered = self.delivered or (self.go_home and cube_delivered(env))  # once home-bound, stays so
        arm = retreat_action(env) if self.delivered else env.reach_action(push_waypoint(env))
        action[:ARM_DOF] = arm + self.noise * self.rng.standard_normal(ARM_DOF)
        action[ARM_DOF] = -1.0
        return np.clip(action, -1, 1).astype(np.float32)


def make_policy(name: str, rng: np.random.Generator, task: str, push_home: bool = False):
    """Exploration policy by name ('random', 'reach', 'push'); `push_home`: push episodes go home once delivered."""
    if name == "random":
        return RandomPolicy(rng)
    if name == "reach":
        return ReachPolicy(rng, follow_goal=(task in ("reach", "reacher")))
    if name == "push":
        if task != "push":
            raise ValueError("the push policy needs the push task (it reads the cube goal)")
        return PushPolicy(rng, go_home=push_home)
    raise ValueError(f"unknown exploration policy {name!r}; valid: random, reach, push")


def draw_policy_name(rng: np.random.Generator, task: str, mix: str = "mix") -> str:
    """Policy for one episode: a fixed name, or a draw from POLICY_MIXES[task] when mix == 'mix'."""
    if mix != "mix":
        return mix
    names, probs = list(POLICY_MIXES[task]), list(POLICY_MIXES[task].values())
    return str(rng.choice(names, p=probs))
