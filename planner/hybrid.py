"""CEM then gradient refinement: CEM finds the basin, Adam polishes CEM's best plan.

CEM's result is kept when the refinement does not improve on it. Both stages share the deadline.
"""

from __future__ import annotations

import dataclasses

import torch

from jepa_mpc.planner.cem import CEMOptimizer
from jepa_mpc.planner.gradient import GradientOptimizer
from jepa_mpc.planner.objective import Objective
from jepa_mpc.planner.types import PlanResult


class HybridOptimizer:
    """`solve(objective, init_mean [H, A], init_std, hold=[H, A]) -> PlanResult`."""

    def __init__(self, cem: CEMOptimizer, gradient: GradientOptimizer) -> None:
        self.cem, self.gradient = cem, gradient

    def solve(
        self,
        objective: Objective,
        init_mean: torch.Tensor,
        init_std: torch.Tensor | float | None = None,
        *,
        hold: torch.Tensor | None = None,
        deadline_s: float | None = None,
        generator: torch.Generator | None = None,
    ) -> PlanResult:
        """CEM from init_mean, then Adam from CEM's best plan (from init_mean if CEM found nothing)."""
        first = self.cem.solve(
            objective, init_mean, init_std, hold=hold, deadline_s=deadline_s, generator=generator
        )
        if first.timed_out:
            return first
        start = first.actions if first.ok else init_mean
        second = self.gradient.solve(
            objective, start, hold=hold, deadline_s=deadline_s, generator=generator
        )
        best = second if second.ok and (not first.ok or second.cost <= first.cost) else first
        return dataclasses.replace(
            best,
            iterations=first.iterations + second.iterations,
            solve_time_s=first.solve_time_s + second.solve_time_s,
            history=first.history + second.history,
            timed_out=second.timed_out,
        )
