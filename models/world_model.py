"""WorldModel: encoder + action-conditioned predictor (+ probes, critic), the object the planner plans with.

It satisfies `planner.protocols.WorldModelLike`: `encode(image, proprio) -> z [B,D]` and
`rollout(z0, actions) -> z [B,H,D]`. Load a trained one with `WorldModel.from_checkpoint(path, device)`.
"""
from __future__ import annotations

import dataclasses
import os

import torch
from torch import nn

from jepa_mpc.models.config import WorldModelConfig
from jepa_mpc.models.critic import Critic
from jepa_mpc.models.encoder import ConvEncoder
from jepa_mpc.models.predictor import LatentPredictor
from jepa_mpc.models.probes import Probe


class WorldModel(nn.Module):
    """s_t = Enc(o_t); s_{t+1} = P(s_t, a_t). Pass `encoder`/`predictor` to share existing modules."""

    def __init__(self, cfg: WorldModelConfig, encoder: ConvEncoder | None = None,
                 predictor: LatentPredictor | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        self.latent_dim: int = cfg.latent_dim
        self.action_dim: int = cfg.action_dim
        self.encoder = encoder or ConvEncoder(cfg.encoder, cfg.latent_dim, cfg.latent_norm)
        self.predictor = predictor or LatentPredictor(cfg.predictor, cfg.latent_dim, cfg.action_dim,
                                                      cfg.latent_norm)
        self.probes = nn.ModuleDict({p.name: Probe(p, cfg.latent_dim) for p in cfg.probes})
        self.critic = Critic(cfg.latent_dim, cfg.critic_hidden) if cfg.critic_hidden > 0 else None

    @property
    def device(self) -> torch.device:
        """Device of the weights."""
        return next(self.parameters()).device

    def encode(self, image: torch.Tensor, proprio: torch.Tensor | None = None) -> torch.Tensor:
        """image uint8 [B,H,W,3] (+ proprio [B,P]) -> z [B,D]. Proprio is ignored by an image-only encoder."""
        return self.encoder(image.to(self.device), None if proprio is None else proprio.to(self.device))

    def step(self, z: torch.Tensor, action: torch.Tensor, u: torch.Tensor | None = None) -> torch.Tensor:
        """z [B,D], action [B,A] (+ latent variable u [B,Z], zero when omitted) -> z_next [B,D]."""
        return self.predictor.step(z, action, u)

    def rollout(self, z0: torch.Tensor, actions: torch.Tensor, u: torch.Tensor | None = None) -> torch.Tensor:
        """z0 [B,D], actions [B,H,A] in [-1,1] (+ u [B,H,Z]) -> predicted z_1..z_H [B,H,D], open loop."""
        if z0.ndim != 2 or actions.ndim != 3 or actions.shape[0] != z0.shape[0] or actions.shape[2] != self.action_dim:
            raise ValueError(f"rollout expects z0 [B,{self.latent_dim}] and actions [B,H,{self.action_dim}], got "
                             f"{list(z0.shape)} and {list(actions.shape)}")
        return self.predictor.rollout(z0, actions, u)

    def probe(self, name: str, z: torch.Tensor) -> torch.Tensor:
        """Readout `name` ('ee_pos', 'joint_pos') of latents z [B,D] -> [B,C]."""
        if name not in self.probes:
            raise KeyError(f"this world model has no probe {name!r}; it has {sorted(self.probes)}")
        return self.probes[name](z)

    def cost(self, z: torch.Tensor) -> torch.Tensor:
        """Trainable critic cost of latents z [K,D] -> [K] (lower is better)."""
        if self.critic is None:
            raise RuntimeError("this world model has no critic; fit one with models.critic.fit_critic and "
                               "attach it with with_critic()")
        return self.critic(z)

    def with_probes(self, probes: dict[str, Probe]) -> WorldModel:
        """This model with `probes` attached, replacing any of the same name (the config records them)."""
        merged = {**dict(self.probes.items()), **{p.cfg.name: p for p in probes.values()}}
        self.cfg = dataclasses.replace(self.cfg, probes=tuple(p.cfg for p in merged.values()))
        self.probes = nn.ModuleDict({name: p.to(self.device) for name, p in merged.items()})
        return self

    def with_critic(self, critic: Critic) -> WorldModel:
        """This model with `critic` attached (its config records the critic, so checkpoints keep it)."""
        self.cfg = dataclasses.replace(self.cfg, critic_hidden=critic.hidden)
        self.critic = critic.to(self.device)
        return self

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, device: str | torch.device = "auto") -> WorldModel:
        """Load a checkpoint written by `models.checkpoint.save_checkpoint` (strict; checksum-verified)."""
        from jepa_mpc.models.checkpoint import load_checkpoint

        return load_checkpoint(path, device=device)
