"""Plain data passed between planner parts: plan context, rollout, evaluation, plan result and status.

Shapes: K samples, H horizon, A action dim, J arm joints, D latent dim, P check points on the arm.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Mapping

import torch


class PlanStatus(enum.Enum):
    """Run-time outcome of one plan; anything but OK means the caller holds position."""

    OK = "ok"
    INFEASIBLE = "infeasible"  # no sample satisfied every guardrail
    TIMEOUT = "timeout"  # the deadline passed before a feasible plan was found
    NON_FINITE_COST = (
        "non_finite_cost"  # feasible samples existed but the model/costs gave NaN/inf for all
    )
    STALE_INPUT = "stale_input"  # the observation is older than max_obs_age_s
    INVALID_INPUT = "invalid_input"  # non-finite observation or latent
    NO_GOAL = "no_goal"  # a cost term needs a goal that was not set


@dataclasses.dataclass(frozen=True)
class PlanContext:
    """Everything one solve conditions on, already on the planner device (float32)."""

    z0: torch.Tensor
    """Current latent [D]."""
    q0: torch.Tensor
    """Joint targets the actions start from [J] (last command, or the measured state)."""
    qd0: torch.Tensor
    """Commanded joint velocity of the previous step [J] (zeros when unknown)."""
    z_goal: torch.Tensor | None = None
    """Goal latent [D]."""
    ee_goal: torch.Tensor | None = None
    """Goal end-effector position [3] (world frame, metres)."""
    prev_action: torch.Tensor | None = None
    """Action executed last tick [A], for the smoothness cost."""
    gripper: float = 1.0
    """Gripper action that keeps the gripper as it is (used by the hold plan)."""

    def goals(self) -> frozenset[str]:
        """Names of the goals this context provides."""
        return frozenset(n for n in ("z_goal", "ee_goal") if getattr(self, n) is not None)


@dataclasses.dataclass(frozen=True)
class Rollout:
    """Candidate actions and what they imply: predicted latents and the known-kinematics arm path."""

    actions: torch.Tensor  # [K, H, A] in [-1, 1]
    z: torch.Tensor  # [K, H, D] predicted latents z_1..z_H
    q: torch.Tensor  # [K, H+1, J] joint targets q_0..q_H
    qd: torch.Tensor  # [K, H, J] joint velocities (q_{t+1} - q_t) / dt
    points: torch.Tensor  # [K, H+1, P, 3] check points on the arm (world frame)
    dt: float  # control period (s)


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """Per-sample result of the objective."""

    soft: torch.Tensor  # [K] weighted sum of cost terms; non-finite values replaced by BIG_COST
    violation: torch.Tensor  # [K] summed guardrail violation (>= 0; m or rad)
    feasible: torch.Tensor  # [K] bool, every guardrail satisfied
    finite: torch.Tensor  # [K] bool, the raw soft cost was finite
    raw_soft: torch.Tensor  # [K] unsanitised soft cost (what the gradient planner differentiates)

    @property
    def valid(self) -> torch.Tensor:
        """[K] bool: may be an elite / be returned."""
        return self.feasible & self.finite


@dataclasses.dataclass(frozen=True)
class PlanResult:
    """What an optimiser returns; `actions` is always safe: the best valid plan or the hold plan."""

    actions: torch.Tensor  # [H, A]
    status: PlanStatus
    cost: float  # soft cost of `actions` (inf when not OK)
    iterations: int  # optimiser iterations (CEM) or steps (gradient) actually run
    solve_time_s: float
    history: tuple[float, ...] = ()  # best valid soft cost after each iteration (inf before any)
    timed_out: bool = False
    attempts: int = 1  # solves run (1 + retries after INFEASIBLE)
    cost_terms: Mapping[str, float] = dataclasses.field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when status is OK."""
        return self.status is PlanStatus.OK


BIG_COST = 1e30
"""Finite stand-in for NaN/inf costs, so top-k and comparisons stay well defined."""


def hold_actions(
    horizon: int,
    action_dim: int,
    gripper: float,
    device: torch.device,
    dof: int,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """The hold plan [H, A]: zero joint steps (the first `dof` entries), gripper kept at `gripper` (entry dof)."""
    actions = torch.zeros(horizon, action_dim, device=device, dtype=dtype)
    if action_dim > dof:
        actions[:, dof] = min(max(gripper, -1.0), 1.0) if math.isfinite(gripper) else 1.0
    return actions
