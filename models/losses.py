"""Representation-space losses: prediction error (the energy), VICReg variance / covariance, latent-variable penalties.

No pixel reconstruction anywhere: the prediction target is the encoded next frame (seeds-spec 4.3, TO1-TO9).
"""
from __future__ import annotations

import torch


def prediction_error(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error per step: pred, target [B,H,D] -> [H] (float32)."""
    return (pred.float() - target.float()).pow(2).mean(dim=(0, 2))


def variance_loss(x: torch.Tensor, gamma: float = 1.0, eps: float = 1e-4) -> torch.Tensor:
    """VICReg variance hinge: mean_d relu(gamma - std_d), std over the batch. x [N,C] -> scalar."""
    std = torch.sqrt(x.float().var(dim=0) + eps)
    return torch.relu(gamma - std).mean()


def covariance_loss(x: torch.Tensor) -> torch.Tensor:
    """VICReg covariance: sum of squared off-diagonal covariances / C. x [N,C] -> scalar."""
    x = x.float()
    n, c = x.shape
    x = x - x.mean(dim=0)
    cov = (x.T @ x) / max(n - 1, 1)  # [C,C]
    off = cov - torch.diag(torch.diagonal(cov))
    return off.pow(2).sum() / c


def kl_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) summed over the last dim, averaged over the rest -> scalar."""
    return 0.5 * (mu.float().pow(2) + logvar.float().exp() - 1.0 - logvar.float()).sum(-1).mean()
