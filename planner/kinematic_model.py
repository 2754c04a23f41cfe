"""A world model with an empty latent, for planning with known-kinematics costs only (pose goals through FK).

The arm's joint trajectory, and so every FK-based cost and guardrail, follows from the actions alone; no learned
prediction is involved. Used as the upper-bound baseline on Reach and as a model-free fallback.
"""
from __future__ import annotations

import torch


class NullWorldModel:
    """Satisfies WorldModelLike with a one-dimensional, always-zero latent, for actions of `action_dim` entries
    (the arm's joints, plus one when it has a gripper entry)."""

    latent_dim = 1

    def __init__(self, action_dim: int) -> None:
        self.action_dim = int(action_dim)

    def encode(self, image: torch.Tensor, proprio: torch.Tensor | None = None) -> torch.Tensor:
        """image [B, H, W, 3] -> zeros [B, 1], on the image's device."""
        return torch.zeros(image.shape[0], 1, device=image.device)

    def rollout(self, z0: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """z0 [B, 1], actions [B, H, A] -> zeros [B, H, 1]."""
        return torch.zeros(actions.shape[0], actions.shape[1], 1, dtype=z0.dtype, device=z0.device)
