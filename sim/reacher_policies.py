"""Evaluation helpers for `jepa_mpc/DMCReacher-v0` that need no planner: the oracle and the violation check
(the learned-model MPC over torques is apps/reacher_mpc.py).

- oracle: PD torque towards the 2-link IK configuration of the target, from privileged simulator state
  (`DMCReacherEnv.reach_action`).
- Violations: the Reacher has no Cartesian guardrails (no workspace box or keep-out zones apply to a planar
  arm in an open arena), so a guardrail violation is an executed action outside the action space or
  non-finite. `action_violates` checks that here, independently of the planner's action filter.
"""
from __future__ import annotations

import numpy as np

CONTROL_PERIOD_S = 0.1
"""The env's control period: frame skip 5 x dm_control's 0.02 s physics step."""


def oracle_action(env) -> np.ndarray:
    """Privileged PD torque [2] to the IK configuration that puts the finger on the target."""
    return np.asarray(env.reach_action(env.goal_pos), dtype=np.float64)


def action_violates(action: object, low: np.ndarray, high: np.ndarray) -> bool:
    """True when the executed action is non-finite, mis-shaped, or outside [low, high]."""
    try:
        a = np.asarray(action, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        return True
    low, high = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
    return bool(a.shape != low.shape or not np.all(np.isfinite(a)) or np.any(a < low) or np.any(a > high))
