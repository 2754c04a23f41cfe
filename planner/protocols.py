"""What the planner needs from a world model, as a Protocol: planner/ never imports concrete model classes.

Shapes use the project glossary: B batch, K samples, H horizon, A action dim, D latent dim, P proprio dim.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch


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
