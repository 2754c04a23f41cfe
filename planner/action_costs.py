"""Regularisers on the action sequence itself: magnitude (effort) and rate of change (smoothness)."""

from __future__ import annotations

import torch

from jepa_mpc.planner.types import PlanContext, Rollout


class ActionMagnitude:
    """Mean squared action over the horizon and action dims."""

    name = "action_magnitude"
    requires: frozenset[str] = frozenset()

    def __call__(self, rollout: Rollout, ctx: PlanContext) -> torch.Tensor:
        a = rollout.actions  # [K, H, A]
        return (a * a).mean(dim=(1, 2))


class ActionRate:
    """Mean squared change between consecutive actions (from the last executed action when known)."""

    name = "action_rate"
    requires: frozenset[str] = frozenset()

    def __call__(self, rollout: Rollout, ctx: PlanContext) -> torch.Tensor:
        a = rollout.actions  # [K, H, A]
        if ctx.prev_action is not None:
            a = torch.cat([ctx.prev_action.expand(a.shape[0], 1, -1), a], dim=1)  # [K, H+1, A]
        if a.shape[1] < 2:
            return a.new_zeros(a.shape[0])
        rate = torch.diff(a, dim=1)  # [K, H or H-1, A]
        return (rate * rate).mean(dim=(1, 2))
