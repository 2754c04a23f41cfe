"""Action semantics of a position-controlled arm: bounded joint-position deltas at a fixed control period.

An action for an arm with J joints is J numbers in [-1, 1], each scaled to a joint-target step of at most
`max_joint_step_rad` per control period, optionally followed by one gripper entry (-1 closed, +1 open; the
embedded Panda's actions are 7 + 1). The planner's guardrails, the safety filter and the simulators integrate
actions with these functions, so the trajectory they check is exactly the one the arm is commanded to follow.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np


@dataclasses.dataclass(frozen=True)
class ArmControlConfig:
    """Timing and step limits of the position-controlled arm."""

    control_period_s: float = 0.1
    """Time between two actions (10 Hz)."""
    physics_dt_s: float = 0.002
    """MuJoCo timestep; control_period_s must be an integer multiple of it."""
    max_joint_step_rad: float = 0.05
    """Largest joint-target change per control period (0.5 rad/s at 10 Hz)."""
    gripper_max_m: float = 0.04
    """Finger opening at action[7] = +1 (each finger, metres)."""

    def __post_init__(self) -> None:
        for name in ("control_period_s", "physics_dt_s", "max_joint_step_rad", "gripper_max_m"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"ArmControlConfig.{name} must be a positive finite number, got {value!r}")
        ratio = self.control_period_s / self.physics_dt_s
        if abs(ratio - round(ratio)) > 1e-6:
            raise ValueError(
                f"control_period_s={self.control_period_s} is not an integer multiple of "
                f"physics_dt_s={self.physics_dt_s}"
            )

    @property
    def n_substeps(self) -> int:
        """Physics steps per control period."""
        return int(round(self.control_period_s / self.physics_dt_s))

    @property
    def max_joint_speed_rad_s(self) -> float:
        """Largest commanded joint speed an action can produce."""
        return self.max_joint_step_rad / self.control_period_s


def next_joint_targets(targets: np.ndarray, action: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                       cfg: ArmControlConfig) -> np.ndarray:
    """Joint-position targets [J] after one action: clip(targets + action[:J] * step, lower, upper).

    `action` is clipped to [-1, 1] first; non-finite entries count as 0 (no motion).
    """
    dof = len(lower)
    step = np.nan_to_num(np.clip(np.asarray(action, dtype=np.float64)[:dof], -1.0, 1.0), nan=0.0)
    return np.clip(targets + step * cfg.max_joint_step_rad, lower, upper)


def integrate_targets(start: np.ndarray, actions: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                      cfg: ArmControlConfig) -> np.ndarray:
    """Joint targets [T, J] the arm is commanded through by actions [T, A] from `start` [J] (next_joint_targets)."""
    targets, q = [], np.asarray(start, dtype=np.float64)
    for action in np.atleast_2d(actions):
        q = next_joint_targets(q, action, lower, upper, cfg)
        targets.append(q)
    return np.array(targets).reshape(-1, len(lower))


def gripper_opening(action: np.ndarray, cfg: ArmControlConfig, dof: int) -> float:
    """Per-finger opening in metres for the gripper entry action[dof] in [-1, 1] (non-finite means keep open)."""
    g = float(np.asarray(action, dtype=np.float64)[dof])
    g = 1.0 if not math.isfinite(g) else min(max(g, -1.0), 1.0)
    return 0.5 * (g + 1.0) * cfg.gripper_max_m
