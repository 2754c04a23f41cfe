"""Cost and Constraint protocols and the CostStack that composes them (after nav2 MPPI's critic manager).

A cost returns a per-sample cost [K]; a constraint returns (feasible [K] bool, violation [K] >= 0). The
stack keeps weights from config, sanitises non-finite costs, and can report each term's contribution.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import torch

from jepa_mpc.planner.types import BIG_COST, Evaluation, PlanContext, Rollout


@runtime_checkable
class Cost(Protocol):
    """A soft cost term. `requires` names the goals it needs from the context ("z_goal", "ee_goal")."""

    name: str
    requires: frozenset[str]

    def __call__(self, rollout: Rollout, ctx: PlanContext) -> torch.Tensor:
        """-> cost [K]."""
        ...


@runtime_checkable
class Constraint(Protocol):
    """A hard guardrail on the known-kinematics trajectory."""

    name: str

    def __call__(self, rollout: Rollout, ctx: PlanContext) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (feasible [K] bool, violation [K] >= 0, summed over the horizon in m or rad)."""
        ...


class CostStack:
    """Weighted sum of cost terms plus the guardrail constraints."""

    def __init__(self, terms: Sequence[tuple[float, Cost]], constraints: Sequence[Constraint]) -> None:
        names = [c.name for _, c in terms] + [c.name for c in constraints]
        if len(set(names)) != len(names):
            raise ValueError(f"cost and constraint names must be unique, got {names}")
        self.terms = [(float(w), c) for w, c in terms if w != 0.0]
        self.constraints = list(constraints)

    @property
    def requires(self) -> frozenset[str]:
        """Goals the cost terms need."""
        return frozenset().union(*(c.requires for _, c in self.terms))

    def guardrails(self, rollout: Rollout, ctx: PlanContext) -> tuple[torch.Tensor, torch.Tensor]:
        """(feasible [K] bool, summed violation [K]) of every constraint; they read the arm's path, never z."""
        k = rollout.actions.shape[0]
        violation = rollout.actions.new_zeros(k)
        feasible = torch.ones(k, dtype=torch.bool, device=rollout.actions.device)
        for constraint in self.constraints:
            ok, amount = constraint(rollout, ctx)
            feasible = feasible & ok
            violation = violation + amount
        return feasible, violation

    def evaluate(self, rollout: Rollout, ctx: PlanContext,
                 guardrails: tuple[torch.Tensor, torch.Tensor] | None = None) -> Evaluation:
        """Soft cost, violation and masks for every sample [K]; `guardrails`: this rollout's, already computed."""
        k = rollout.actions.shape[0]
        raw = rollout.actions.new_zeros(k)
        for weight, term in self.terms:
            raw = raw + weight * term(rollout, ctx)
        feasible, violation = guardrails if guardrails is not None else self.guardrails(rollout, ctx)
        finite = torch.isfinite(raw)
        soft = torch.where(finite, raw, torch.full_like(raw, BIG_COST)).clamp(-BIG_COST, BIG_COST)
        return Evaluation(soft=soft, violation=violation, feasible=feasible, finite=finite, raw_soft=raw)

    def breakdown(self, rollout: Rollout, ctx: PlanContext) -> dict[str, torch.Tensor]:
        """Per-term diagnostics [K]: weighted costs "cost/<name>" and violations "violation/<name>"."""
        out: dict[str, torch.Tensor] = {}
        for weight, term in self.terms:
            out[f"cost/{term.name}"] = weight * term(rollout, ctx)
        for constraint in self.constraints:
            out[f"violation/{constraint.name}"] = constraint(rollout, ctx)[1]
        return out
