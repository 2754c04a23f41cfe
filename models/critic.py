"""Trainable critic C(s): a small head that turns rated outcomes into a soft task cost on latents.

The seeds' cost module has intrinsic costs plus a trainable critic (seeds-spec 1.1, TO10). Here the critic is fit
by regression on (latent, rating) pairs; the planner calls it as `cost = critic(z)` with z [K,D] -> [K], lower is
better, in units of the ratings' standard deviation so a planner weight of 1 means "one spread of ratings".
"""
from __future__ import annotations

import torch
from torch import nn


class Critic(nn.Module):
    """z [K,D] -> cost [K] (lower is better)."""

    def __init__(self, latent_dim: int, hidden: int = 64) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.hidden = hidden
        self.register_buffer("in_mean", torch.zeros(latent_dim))
        self.register_buffer("in_std", torch.ones(latent_dim))
        self.net = nn.Sequential(nn.Linear(latent_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                                 nn.Linear(hidden, 1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """z [K,D] -> cost [K]; differentiable, so gradient planners can use it."""
        return self.net((z - self.in_mean) / self.in_std).squeeze(-1)


def fit_critic(latents: torch.Tensor, ratings: torch.Tensor, *, higher_is_better: bool = True, hidden: int = 64,
               steps: int = 1000, lr: float = 3e-3, weight_decay: float = 1e-3, batch_size: int = 512,
               seed: int = 0) -> Critic:
    """Fit C on latents [N,D] and ratings [N] of the outcomes they encode; returned frozen, in eval mode.

    The critic regresses the standardised rating, negated when `higher_is_better`, so its output is a cost.
    Deterministic for a given seed; leaves the caller's RNG untouched.
    """
    if latents.ndim != 2 or ratings.ndim != 1 or latents.shape[0] != ratings.shape[0]:
        raise ValueError(f"latents [N,D] and ratings [N] must match, got {list(latents.shape)}, {list(ratings.shape)}")
    if latents.shape[0] < 2:
        raise ValueError("fit_critic needs at least 2 rated outcomes")
    z, r = latents.detach().float(), ratings.detach().float()
    target = (r - r.mean()) / r.std().clamp_min(1e-6)  # [N]
    if higher_is_better:
        target = -target
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        critic = Critic(z.shape[1], hidden).to(z.device)
    with torch.no_grad():
        critic.in_mean.copy_(z.mean(0))
        critic.in_std.copy_(z.std(0).clamp_min(1e-6))
    gen = torch.Generator(device="cpu").manual_seed(seed)
    opt = torch.optim.AdamW(critic.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    for _ in range(steps):
        idx = torch.randint(0, z.shape[0], (min(batch_size, z.shape[0]),), generator=gen).to(z.device)
        loss = (critic(z[idx]) - target[idx]).pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    return critic.eval().requires_grad_(False)
