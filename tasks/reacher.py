"""The dm_control Reacher (jepa_mpc/DMCReacher-v0): a planar two-link arm commanded by torques, to the target the goal
image shows.

The cell defines success (finger within target plus finger radius: sim/dmc_reacher.py). The arm has no known
kinematics in the planner, so it plans bounded actions (planner/arm_adapter.py BoundedActionArm) to image goals only.
"""
from __future__ import annotations

from jepa_mpc.tasks.spec import PlanningDefaults, Task

IMAGE_GOAL_PLANNING = PlanningDefaults(samples=300, iterations=5, goal_mode="both", action_weight=0.05)
"""Tuned with the shipped checkpoint (docs/experiments.md, "dm_control Reacher")."""

REACHER = Task(
    name="reacher",
    env_id="jepa_mpc/DMCReacher-v0",
    entry_point="jepa_mpc.sim.dmc_reacher:DMCReacherEnv",
    summary="put the Reacher's finger on the target (torque control)",
    tolerance_m=None,
    max_episode_steps=100,
    planning={"image": IMAGE_GOAL_PLANNING},
    control="bounded_action",
    exploration="reacher",
    checkpoint="dmc_reacher",
)
