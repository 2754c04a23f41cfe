"""Collapse monitors: per-dimension latent std, effective rank, covariance spectrum, and a detector that fails loudly.

A JEPA trained only to minimise prediction error can map every frame to one constant (seeds 001:131); these
numbers make that visible in TensorBoard, and `CollapseDetector` stops a run that has collapsed.
"""
from __future__ import annotations

import dataclasses
import logging

import torch

log = logging.getLogger(__name__)


class CollapseError(RuntimeError):
    """The latent representation collapsed (near-constant across inputs); training stopped."""


@torch.no_grad()
def covariance_spectrum(z: torch.Tensor) -> torch.Tensor:
    """Eigenvalues of the latent covariance, descending. z [N,D] -> [D]."""
    z = z.float() - z.float().mean(dim=0)
    cov = (z.T @ z) / max(z.shape[0] - 1, 1)
    return torch.linalg.eigvalsh(cov).flip(0).clamp_min(0.0)


@torch.no_grad()
def effective_rank(z: torch.Tensor, eps: float = 1e-12) -> float:
    """RankMe / Roy-Vetterli effective rank: exp(entropy of normalised singular values). z [N,D] -> [1, D]."""
    z = z.float() - z.float().mean(dim=0)
    s = torch.linalg.svdvals(z)
    if float(s.sum()) <= eps:
        return 0.0
    p = s / s.sum() + eps
    return float(torch.exp(-(p * p.log()).sum()))


@torch.no_grad()
def latent_stats(z: torch.Tensor) -> dict[str, float]:
    """Scalars for the collapse monitors: mean/min per-dim std, effective rank, top eigenvalue share. z [N,D]."""
    std = z.float().std(dim=0)
    eig = covariance_spectrum(z)
    total = float(eig.sum())
    return {
        "mean_std": float(std.mean()),
        "min_std": float(std.min()),
        "effective_rank": effective_rank(z),
        "top_eig_share": float(eig[0]) / total if total > 0 else 1.0,
    }


@dataclasses.dataclass
class CollapseDetector:
    """Raises CollapseError when the mean per-dim std is below `threshold` for `patience` checks in a row."""

    threshold: float
    patience: int
    strikes: int = 0

    def update(self, mean_std: float, step: int) -> None:
        """Record one check at training step `step`; raise CollapseError on the `patience`-th low one in a row."""
        if not mean_std >= self.threshold:  # NaN counts as collapsed
            self.strikes += 1
            log.warning("step %d: mean latent std %.3g below collapse threshold %.3g (%d/%d)", step, mean_std,
                        self.threshold, self.strikes, self.patience)
            if self.strikes >= self.patience:
                raise CollapseError(
                    f"representation collapse at step {step}: mean per-dimension latent std {mean_std:.3g} stayed "
                    f"below {self.threshold:.3g} for {self.strikes} consecutive checks. The encoder maps every "
                    "input to (almost) the same latent, so planning on it is meaningless. Try --objective vicreg, "
                    "a larger --var-weight, a lower --lr, or a higher --ema-momentum."
                )
        else:
            self.strikes = 0
