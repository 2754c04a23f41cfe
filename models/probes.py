"""Readouts fitted on frozen latents: joint positions and end-effector position from z.

They measure what the representation keeps (seeds-spec PE9) and let a pose goal become a latent-space cost.
They are diagnostics: safety never reads them (guardrails use the arm's known kinematics).
"""
from __future__ import annotations

import logging

import torch
from torch import nn

from jepa_mpc.models.config import ProbeConfig

log = logging.getLogger(__name__)


class Probe(nn.Module):
    """z [B,D] -> target [B,C], with input and output standardisation stored as buffers."""

    def __init__(self, cfg: ProbeConfig, latent_dim: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.register_buffer("in_mean", torch.zeros(latent_dim))
        self.register_buffer("in_std", torch.ones(latent_dim))
        self.register_buffer("out_mean", torch.zeros(cfg.out_dim))
        self.register_buffer("out_std", torch.ones(cfg.out_dim))
        if cfg.kind == "linear":
            self.net: nn.Module = nn.Linear(latent_dim, cfg.out_dim)
        else:
            self.net = nn.Sequential(nn.Linear(latent_dim, cfg.hidden), nn.SiLU(), nn.Linear(cfg.hidden, cfg.out_dim))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """z [B,D] -> prediction [B,C] in the target's units."""
        return self.net((z - self.in_mean) / self.in_std) * self.out_std + self.out_mean


def fit_probe(latents: torch.Tensor, targets: torch.Tensor, cfg: ProbeConfig, *, ridge: float = 1e-3,
              steps: int = 1500, lr: float = 3e-3, batch_size: int = 1024, weight_decay: float = 1e-4,
              seed: int = 0) -> Probe:
    """Fit a probe on frozen latents [N,D] -> targets [N,C] (CPU or GPU; deterministic for a given seed).

    'linear' solves ridge regression in closed form; 'mlp' runs Adam on minibatches.
    """
    if latents.ndim != 2 or targets.ndim != 2 or latents.shape[0] != targets.shape[0]:
        raise ValueError(f"latents [N,D] and targets [N,C] must match, got {list(latents.shape)}, "
                         f"{list(targets.shape)}")
    if targets.shape[1] != cfg.out_dim:
        raise ValueError(f"probe {cfg.name!r} has out_dim {cfg.out_dim}, targets have {targets.shape[1]} columns")
    z, y = latents.detach().float(), targets.detach().float()
    with torch.random.fork_rng(devices=[]):  # init from `seed` without touching the caller's RNG stream
        torch.manual_seed(seed)
        probe = Probe(cfg, z.shape[1]).to(z.device)
    with torch.no_grad():
        probe.in_mean.copy_(z.mean(0))
        probe.in_std.copy_(z.std(0).clamp_min(1e-6))
        probe.out_mean.copy_(y.mean(0))
        probe.out_std.copy_(y.std(0).clamp_min(1e-6))
    zs = (z - probe.in_mean) / probe.in_std  # [N,D]
    ys = (y - probe.out_mean) / probe.out_std  # [N,C]
    if cfg.kind == "linear":
        n, d = zs.shape
        gram = zs.T @ zs + ridge * n * torch.eye(d, device=zs.device)  # [D,D]
        weight = torch.linalg.solve(gram, zs.T @ ys)  # [D,C]
        with torch.no_grad():
            probe.net.weight.copy_(weight.T)
            probe.net.bias.zero_()
        return probe.eval().requires_grad_(False)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    opt = torch.optim.AdamW(probe.net.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    for _ in range(steps):
        idx = torch.randint(0, zs.shape[0], (min(batch_size, zs.shape[0]),), generator=gen).to(zs.device)
        loss = (probe.net(zs[idx]) - ys[idx]).pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    return probe.eval().requires_grad_(False)


@torch.no_grad()
def probe_errors(probe: Probe, latents: torch.Tensor, targets: torch.Tensor,
                 baseline: torch.Tensor) -> dict[str, float]:
    """Held-out errors of `probe` and of always predicting `baseline` [C] (e.g. the training mean).

    Returns mean Euclidean error of the whole vector ('err', 'baseline_err') and mean absolute error per
    component ('mae', 'baseline_mae'), in the target's units.
    """
    pred = probe(latents.float())
    t = targets.float()
    base = baseline.float().to(t.device).expand_as(t)
    return {
        "err": float((pred - t).norm(dim=-1).mean()),
        "baseline_err": float((base - t).norm(dim=-1).mean()),
        "mae": float((pred - t).abs().mean()),
        "baseline_mae": float((base - t).abs().mean()),
    }
