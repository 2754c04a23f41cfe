"""What the planner needs from a world model and from an optimiser, as Protocols: planner/ never imports concrete
model classes, and the MPC calls every optimiser the same way.

Shapes use the project glossary: B batch, K samples, H horizon, A action dim, D latent dim, P proprio dim.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import torch

from jepa_mpc.planner.types import Evaluation, PlanResult


@runtime_checkable
class WorldModelLike(Protocol):
    """An encoder plus an action-conditioned latent predictor."""

    latent_dim: int
    action_dim: int

    def encode(self, image: torch.Tensor, proprio: torch.Tensor | None = None) -> torch.Tensor:
        """image uint8 [B, H, W, 3] (+ proprio float [B, P]) -> latent state z float [B, D]."""
        ...

    def rollout(self, z0: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """z0 [B, D], actions [B, H, A] in [-1, 1] -> predicted latents z_1..z_H [B, H, D] (open loop)."""
        ...


@runtime_checkable
class Solver(Protocol):
    """An optimiser over action sequences (CEMOptimizer, GradientOptimizer, HybridOptimizer): stateless between
    calls; the MPC (planner/solver.py) picks one by name and calls it the same way."""

    def solve(
        self,
        objective: Callable[[torch.Tensor], Evaluation],
        init_mean: torch.Tensor,
        init_std: torch.Tensor | float | None = None,
        *,
        hold: torch.Tensor | None = None,
        deadline_s: float | None = None,
        generator: torch.Generator | None = None,
    ) -> PlanResult:
        """Minimise `objective` over plans [H, A] from `init_mean` (and `init_std` where the method samples); `hold`
        is the plan returned when nothing feasible is found; `deadline_s` a time.monotonic() value or None."""
        ...
