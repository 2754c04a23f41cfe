"""Task definitions for the Panda scene: how episodes start, how goals are sampled, and what success means.

Goal distributions (documented here and in docs/reference.md):
- reach: a goal arm configuration HOME + U(-0.5, 0.5) rad on joints 1-6 (joint 7 fixed), kept only if its end
  effector lies in the workspace box x in [0.30, 0.75], y in [-0.35, 0.35], z in [0.08, 0.50] m and at least
  2 x `tolerance_m` from the start (so no episode begins solved). Success: end effector within `tolerance_m`
  (0.05 m) of the goal position. The goal image shows the arm at that configuration.
- push: the cube starts at x in [0.45, 0.62], y in [-0.15, 0.15]; the goal is the start moved 0.10-0.15 m in a
  random direction, kept inside x in [0.35, 0.72], y in [-0.25, 0.25]. Success: cube centre within `tolerance_m`
  (0.05 m) of the goal in the table plane. The goal image shows the cube at the goal and the arm at home.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from jepa_mpc.sim.panda_scene import HOME_QPOS
from jepa_mpc.tasks import PUSH, REACH

WORKSPACE_LOW = np.array([0.30, -0.35, 0.08])
WORKSPACE_HIGH = np.array([0.75, 0.35, 0.50])


@dataclasses.dataclass
class EpisodeSetup:
    """Everything a task decides at reset: start state and goal."""

    arm_qpos: np.ndarray  # [7] initial joint positions
    cube_pos: np.ndarray  # [3] initial cube centre
    goal_pos: np.ndarray  # [3] goal position (EE for reach, cube for push)
    goal_arm_qpos: np.ndarray  # [7] arm configuration shown in the goal image
    goal_cube_pos: np.ndarray  # [3] cube position shown in the goal image


class ReachTask:
    """Move the end effector to a goal position sampled from reachable arm configurations."""

    name = "reach"

    def __init__(self, tolerance_m: float = REACH.tolerance_m, joint_range_rad: float = 0.5,
                 start_noise_rad: float = 0.1):
        if tolerance_m <= 0 or joint_range_rad <= 0 or start_noise_rad < 0:
            raise ValueError("tolerance_m and joint_range_rad must be > 0, start_noise_rad >= 0")
        self.tolerance_m = tolerance_m
        self.joint_range_rad = joint_range_rad
        self.start_noise_rad = start_noise_rad

    def sample(self, rng: np.random.Generator, fk, limits) -> EpisodeSetup:
        """Sample a start and a goal; `fk(q[7]) -> ee_pos[3]` is the simulator's forward kinematics."""
        lower, upper = limits
        start = np.clip(HOME_QPOS + rng.uniform(-1, 1, 7) * self.start_noise_rad * np.r_[np.ones(6), 0], lower, upper)
        cube = np.array([rng.uniform(0.45, 0.62), rng.uniform(-0.15, 0.15), 0.025])
        start_ee = fk(start)
        for _ in range(200):
            goal_q = np.clip(HOME_QPOS + rng.uniform(-1, 1, 7) * self.joint_range_rad * np.r_[np.ones(6), 0],
                             lower, upper)
            ee = fk(goal_q)
            inside = np.all(ee >= WORKSPACE_LOW) and np.all(ee <= WORKSPACE_HIGH)
            if inside and np.linalg.norm(ee - start_ee) >= 2 * self.tolerance_m:
                break
        else:  # vanishingly rare; home is always a valid goal
            goal_q, ee = HOME_QPOS.copy(), fk(HOME_QPOS)
        return EpisodeSetup(start, cube, ee, goal_q, cube.copy())

    def distance(self, ee_pos: np.ndarray, cube_pos: np.ndarray, goal_pos: np.ndarray) -> float:
        """Metres between the end effector and the goal."""
        return float(np.linalg.norm(ee_pos - goal_pos))


class PushTask:
    """Push the cube to a goal position on the table."""

    name = "push"

    def __init__(self, tolerance_m: float = PUSH.tolerance_m, start_noise_rad: float = 0.1):
        if tolerance_m <= 0 or start_noise_rad < 0:
            raise ValueError("tolerance_m must be > 0 and start_noise_rad >= 0")
        self.tolerance_m = tolerance_m
        self.start_noise_rad = start_noise_rad

    def sample(self, rng: np.random.Generator, fk, limits) -> EpisodeSetup:
        """Sample a start and a cube goal (`fk` unused; same signature as ReachTask.sample)."""
        lower, upper = limits
        start = np.clip(HOME_QPOS + rng.uniform(-1, 1, 7) * self.start_noise_rad * np.r_[np.ones(6), 0], lower, upper)
        cube = np.array([rng.uniform(0.45, 0.62), rng.uniform(-0.15, 0.15), 0.025])
        for _ in range(200):
            angle, dist = rng.uniform(0, 2 * np.pi), rng.uniform(0.10, 0.15)
            goal = cube + dist * np.array([np.cos(angle), np.sin(angle), 0.0])
            if 0.35 <= goal[0] <= 0.72 and -0.25 <= goal[1] <= 0.25:
                break
        else:
            goal = np.array([0.5, 0.0, 0.025])
        return EpisodeSetup(start, cube, goal, HOME_QPOS.copy(), goal.copy())

    def distance(self, ee_pos: np.ndarray, cube_pos: np.ndarray, goal_pos: np.ndarray) -> float:
        """Metres between the cube and the goal in the table plane."""
        return float(np.linalg.norm(cube_pos[:2] - goal_pos[:2]))


TASKS = {"reach": ReachTask, "push": PushTask}


def make_task(name: str, **kwargs):
    """Task by name; unknown names raise and list the valid ones."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; valid tasks: {sorted(TASKS)}")
    return TASKS[name](**kwargs)
