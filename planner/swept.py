"""Swept-motion margins for the planner's guardrails: the whole joint-space segment between two control points.

The controller moves the arm along q(s) = q_t + s (q_{t+1} - q_t). With D_k the bound on sphere k's path length
over that segment (robots/motion_bound.py: |dq| @ lever), every point of the path lies within D_k / 2 of one of
its two ends. A 1-Lipschitz clearance (distance to a zone, height above the table, distance to a workspace face)
that is at least `need + D_k / 2` at both ends is therefore at least `need` along the whole segment: no extra
kinematics, batched over [K, H, P]. The safety filter samples the segment more finely (planner/safety.py); the
two are consistent (docs/safety.md, "Between control points").
"""

from __future__ import annotations

import torch

from jepa_mpc.planner.types import Rollout


def half_sweep(rollout: Rollout, lever: torch.Tensor) -> torch.Tensor:
    """[K, H, P]: half the bound on each point's path length over each step (lever [J, P])."""
    return 0.5 * (torch.diff(rollout.q, dim=1).abs() @ lever)


def swept_shortfall(clearance: torch.Tensor, need: torch.Tensor, half: torch.Tensor) -> torch.Tensor:
    """How far a swept segment is short of its clearance, summed to [K].

    clearance [K, H+1, Q]: a 1-Lipschitz margin at q_0..q_H; need [K, H, Q] (or broadcastable): what each segment
    needs; half [K, H, Q]: half the path-length bound. Both ends of each segment count; for a point that does not
    move (half = 0) its start is its end, so a hold is judged at the end only, as before swept checks.
    """
    ends = torch.minimum(clearance[:, :-1], clearance[:, 1:])
    return torch.relu(need + half - ends).flatten(1).sum(dim=1)
