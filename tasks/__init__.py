"""Tasks as data (one module each): environment, goal kinds, success, planner defaults, shipped checkpoint.

sim registers the environments from here, the planner's defaults and the CLI's flags start from here, and the nodes
pick the checkpoint from here. To add a task: one module like reach.py, one line in TASKS, and its env in sim/.
"""
from __future__ import annotations

from jepa_mpc.tasks.arm_reach import ARM_REACH
from jepa_mpc.tasks.push import PUSH
from jepa_mpc.tasks.reach import REACH
from jepa_mpc.tasks.reacher import REACHER
from jepa_mpc.tasks.spec import GOAL_KINDS, PlanningDefaults, Task

TASKS: dict[str, Task] = {task.env_id: task for task in (REACH, PUSH, REACHER, ARM_REACH)}
"""Every task by its environment id."""


def task_for_env(env_id: str) -> Task:
    """The task of a registered environment id; ValueError listing the known ids."""
    try:
        return TASKS[env_id]
    except KeyError:
        raise ValueError(f"unknown environment {env_id!r}; known: {', '.join(sorted(TASKS))}") from None


__all__ = ["ARM_REACH", "GOAL_KINDS", "PUSH", "REACH", "REACHER", "TASKS", "PlanningDefaults", "Task", "task_for_env"]
