"""Reach on any arm (jepa_mpc/ArmReach-v0, `--robot`): the reach cell built around an arm from its description.

Goals and success are in sim/arm_reach_task.py. No learned model ships for an arbitrary arm: pose goals plan through
the arm's known kinematics; image goals need a checkpoint trained on that arm's data.
"""
from __future__ import annotations

from jepa_mpc.tasks.reach import IMAGE_GOAL_PLANNING, POSE_GOAL_PLANNING
from jepa_mpc.tasks.spec import Task

ARM_REACH = Task(
    name="arm_reach",
    env_id="jepa_mpc/ArmReach-v0",
    entry_point="jepa_mpc.sim.arm_env:ArmReachEnv",
    summary="move any arm's tool point to the goal (within 5 cm)",
    tolerance_m=0.05,
    max_episode_steps=60,
    planning={"image": IMAGE_GOAL_PLANNING, "pose": POSE_GOAL_PLANNING},
    exploration="reach",
    any_robot=True,
)
