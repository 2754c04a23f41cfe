"""What a task is, as data every layer reads: its environment, goal kinds, success test, planner defaults and the
checkpoint that ships for it.

A task names no costs of its own: the planner composes the cost terms a PlanningDefaults names (planner/registry.py).
The physics of a task (how a start and goal are sampled, what distance is measured) lives with its simulator
(sim/tasks.py, sim/arm_reach_task.py, sim/dmc_reacher.py), which takes its tolerance from here.
"""
from __future__ import annotations

import dataclasses
import math
import pathlib
from collections.abc import Mapping

from jepa_mpc.models.shipped import CHECKPOINT_DIR

GOAL_KINDS = ("image", "pose")
CONTROLS = ("joint_position", "bounded_action")
"""How the arm is commanded, i.e. which arm adapter the MPC uses (planner/arm_adapter.py)."""
IMAGE_COSTS = ("goal_energy", "cube_push")


@dataclasses.dataclass(frozen=True)
class PlanningDefaults:
    """Planner settings tuned for one task and goal kind (docs/experiments.md says how each was measured); the mpc
    node and `jepa-mpc eval` start from them and every flag or parameter overrides them."""

    samples: int = 512
    """CEM samples K."""
    horizon: int = 20
    """Planned steps H."""
    iterations: int = 3
    """CEM iterations."""
    goal_mode: str = "terminal"
    """Goal energy on the last predicted step (terminal), the horizon mean (trajectory), both, or the closest step."""
    action_weight: float = 0.01
    """Weight of the mean squared action."""
    image_cost: str = "goal_energy"
    """Image goals: the latent goal energy, or cube_push (an ablation of hand-shaped Push costs)."""

    def __post_init__(self) -> None:
        for name in ("samples", "horizon", "iterations"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"PlanningDefaults.{name} must be an int >= 1, got {value!r}")
        if self.goal_mode not in ("terminal", "trajectory", "both", "closest"):
            raise ValueError(f"PlanningDefaults.goal_mode: unknown {self.goal_mode!r}")
        if not (isinstance(self.action_weight, (int, float)) and math.isfinite(self.action_weight)
                and self.action_weight >= 0):
            raise ValueError(f"PlanningDefaults.action_weight must be finite and >= 0, got {self.action_weight!r}")
        if self.image_cost not in IMAGE_COSTS:
            raise ValueError(f"PlanningDefaults.image_cost must be one of {IMAGE_COSTS}, got {self.image_cost!r}")


@dataclasses.dataclass(frozen=True)
class Task:
    """One task: where it runs, what a goal is, when it succeeds, how to plan it and which model ships for it."""

    name: str
    env_id: str
    """The gymnasium id of its simulated cell (registered by jepa_mpc.sim)."""
    entry_point: str
    """module:Class of the env, for gymnasium.register."""
    summary: str
    tolerance_m: float | None
    """Success: the task distance (tool to goal, or object to goal) at most this many metres at the last step;
    None where the simulated cell defines it (the Reacher: target plus finger radius of its difficulty)."""
    max_episode_steps: int
    """Control steps per episode (the env's time limit)."""
    planning: Mapping[str, PlanningDefaults]
    """Planner defaults per goal kind; the goal kinds the task accepts are its keys."""
    control: str = "joint_position"
    executes_gripper: bool = False
    """True when the planned gripper action is executed (Push closes the hand); else the gripper is held open."""
    exploration: str = "reach"
    """The family of exploration policies `jepa-mpc collect` draws from (sim/exploration.py POLICY_MIXES)."""
    checkpoint: str = ""
    """File stem of the shipped checkpoint in models/checkpoints ('' when none ships)."""
    any_robot: bool = False
    """True when the cell is built around any arm (`--robot`); else it is the embedded Panda's or its own."""

    def __post_init__(self) -> None:
        if not self.planning or not set(self.planning) <= set(GOAL_KINDS):
            raise ValueError(f"Task {self.name}: planning keys must be goal kinds {GOAL_KINDS}, "
                             f"got {set(self.planning)}")
        if self.control not in CONTROLS:
            raise ValueError(f"Task {self.name}: control must be one of {CONTROLS}, got {self.control!r}")
        tolerance_ok = self.tolerance_m is None or (math.isfinite(self.tolerance_m) and self.tolerance_m > 0)
        if not tolerance_ok or self.max_episode_steps < 1:
            raise ValueError(f"Task {self.name}: tolerance_m must be > 0 and max_episode_steps >= 1")

    @property
    def goal_kinds(self) -> tuple[str, ...]:
        """The goal kinds this task accepts, in GOAL_KINDS order."""
        return tuple(kind for kind in GOAL_KINDS if kind in self.planning)

    def planning_for(self, goal: str) -> PlanningDefaults:
        """The planner defaults for `goal`; ValueError naming the goal kinds the task accepts."""
        if goal not in self.planning:
            raise ValueError(f"task {self.name} takes {' or '.join(self.goal_kinds)} goals, not {goal!r}")
        return self.planning[goal]

    @property
    def checkpoint_path(self) -> pathlib.Path | None:
        """The shipped checkpoint (path without suffix), or None when none ships for this task."""
        return CHECKPOINT_DIR / self.checkpoint if self.checkpoint else None
