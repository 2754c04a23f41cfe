"""The JEPA training objective: predict encoded future frames from encoded past ones, in representation space only.

Energy = teacher-forced one-step error + open-loop multi-step rollout error (V-JEPA 2-AC, JEPA-WMs). Collapse is
prevented either by VICReg (variance hinge on the latent and on an expander, covariance on both; seeds
001:141-153) or by an EMA target encoder with stop-gradient (I-JEPA / BYOL; seeds 000:683, 002:904-911).
Optionally a training-only head must also read a recorded state (e.g. the cube's position) from every latent, encoded
and predicted (TrainConfig.aux_state). Training-only parts (expander, target encoder, latent-variable inference,
state head) live here and are dropped on export.
"""
from __future__ import annotations

import copy
import math

import torch
from torch import nn

from jepa_mpc.models.config import TrainConfig, WorldModelConfig
from jepa_mpc.models.losses import covariance_loss, kl_standard_normal, prediction_error, variance_loss
from jepa_mpc.models.world_model import WorldModel


def proprio_of(batch: dict[str, torch.Tensor], cfg: WorldModelConfig) -> torch.Tensor | None:
    """The proprioception array the encoder was configured with, or None."""
    key = cfg.encoder.proprio_key
    return None if key == "none" else batch[key]


class JepaObjective(nn.Module):
    """Online world model + anti-collapse machinery; `forward(batch) -> (loss, logs)`."""

    def __init__(self, model_cfg: WorldModelConfig, train_cfg: TrainConfig, aux_state_dim: int = 0) -> None:
        super().__init__()
        self.cfg = train_cfg
        self.model = WorldModel(model_cfg)
        d, a, zd = model_cfg.latent_dim, model_cfg.action_dim, model_cfg.predictor.z_dim
        self.expander = None
        self.target_encoder = None
        if train_cfg.objective == "vicreg":
            e = train_cfg.expander_dim
            self.expander = nn.Sequential(nn.Linear(d, e), nn.SiLU(), nn.Linear(e, e), nn.SiLU(), nn.Linear(e, e))
        else:
            self.target_encoder = copy.deepcopy(self.model.encoder).requires_grad_(False)
        # q(u | s_t, s_{t+1}, a_t): infers the latent variable in training; its information is penalised.
        self.latent_net = (nn.Sequential(nn.Linear(2 * d + a, 128), nn.SiLU(), nn.Linear(128, 2 * zd))
                           if zd > 0 else None)
        self.state_head = None
        if train_cfg.aux_state:
            if aux_state_dim < 1:
                raise ValueError(f"aux_state {train_cfg.aux_state} needs aux_state_dim >= 1, got {aux_state_dim}")
            self.state_head = nn.Sequential(nn.Linear(d, 128), nn.SiLU(), nn.Linear(128, aux_state_dim))
            self.register_buffer("state_mean", torch.zeros(aux_state_dim))
            self.register_buffer("state_scale", torch.ones(aux_state_dim))

    def trainable_parameters(self) -> list[nn.Parameter]:
        """Everything the optimizer updates (not the EMA target)."""
        return [p for p in self.parameters() if p.requires_grad]

    @torch.no_grad()
    def sync_target(self) -> None:
        """Copy the online encoder into the target encoder (after changing normalisation buffers)."""
        if self.target_encoder is not None:
            self.target_encoder.load_state_dict(self.model.encoder.state_dict())

    @torch.no_grad()
    def set_state_normalization(self, states: list[torch.Tensor]) -> None:
        """Centre, and one scale per array (its RMS per-dimension std), from samples [N,S_i] of each aux_state array:
        the error is then unit-free, and a near-constant dimension (a cube's height on the table) is not blown up
        as a per-dimension std would."""
        self.state_mean.copy_(torch.cat([x.float().mean(0) for x in states]))
        self.state_scale.copy_(torch.cat([x.float().var(0).mean().sqrt().clamp_min(1e-6).expand(x.shape[-1])
                                          for x in states]))

    @torch.no_grad()
    def update_target(self, momentum: float) -> None:
        """EMA step: target <- momentum * target + (1 - momentum) * online."""
        if self.target_encoder is None:
            return
        online = dict(self.model.encoder.named_parameters())
        for name, p in self.target_encoder.named_parameters():
            p.lerp_(online[name], 1.0 - momentum)

    def export_model(self) -> WorldModel:
        """The deployable world model (shares weights): the EMA target encoder if there is one, + the predictor."""
        encoder = self.target_encoder if self.target_encoder is not None else self.model.encoder
        return WorldModel(self.model.cfg, encoder=encoder, predictor=self.model.predictor)

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """batch: image uint8 [B,k+1,H,W,3], action [B,k,A] (+ proprio [B,k+1,P]) -> (loss, detached logs)."""
        image, action = batch["image"], batch["action"]
        proprio = proprio_of(batch, self.model.cfg)
        b, k = action.shape[:2]
        enc = self.model.encoder

        def encode(module: nn.Module, frames: slice) -> torch.Tensor:
            p = None if proprio is None else proprio[:, frames].flatten(0, 1)
            s = module(image[:, frames].flatten(0, 1), p)  # [B*n, D]
            return s.unflatten(0, (b, -1))  # [B,n,D]

        if self.target_encoder is None:  # VICReg: one encoder, gradients through both branches
            s = encode(enc, slice(None))  # [B,k+1,D]
            ctx, tgt = s[:, :-1], s[:, 1:]
        else:  # EMA: online encoder for the context, stop-gradient target encoder for the future
            ctx = encode(enc, slice(0, k))  # [B,k,D]
            with torch.no_grad():
                tgt = encode(self.target_encoder, slice(1, k + 1))  # [B,k,D]
            s = ctx
        u, z_penalty = self._infer_latent(ctx, tgt, action)  # [B,k,Z] or None
        pred_tf = self.model.predictor.step(ctx.flatten(0, 1), action.flatten(0, 1),
                                            None if u is None else u.flatten(0, 1)).unflatten(0, (b, k))
        pred_ro = self.model.predictor.rollout(ctx[:, 0], action, u)  # [B,k,D]
        err_tf, err_ro = prediction_error(pred_tf, tgt), prediction_error(pred_ro, tgt)  # [k], [k]
        cfg = self.cfg
        loss = cfg.teacher_forcing_weight * err_tf.mean() + cfg.rollout_weight * err_ro.mean()
        flat = s.flatten(0, 1).float()  # [N,D]
        logs = {"pred_tf": err_tf.mean(), "pred_rollout": err_ro.mean(), "pred_rollout_last": err_ro[-1],
                "batch_latent_std": flat.std(0).mean()}
        if self.expander is not None:
            v = self.expander(flat)  # [N,E]
            var = variance_loss(flat) + variance_loss(v)
            cov, latent_cov = covariance_loss(v), covariance_loss(flat)
            loss = loss + cfg.var_weight * var + cfg.cov_weight * cov + cfg.latent_cov_weight * latent_cov
            logs |= {"var": var, "cov": cov, "latent_cov": latent_cov}
        if z_penalty is not None:
            loss = loss + cfg.z_weight * z_penalty
            logs["z_penalty"] = z_penalty
        if self.state_head is not None:
            state = torch.cat([batch[key].float() for key in cfg.aux_state], dim=-1)  # [B,k+1,S]
            state = (state - self.state_mean) / self.state_scale
            aux = (self._state_error(s, state[:, :s.shape[1]]) + self._state_error(pred_tf, state[:, 1:])
                   + self._state_error(pred_ro, state[:, 1:])) / 3.0
            loss = loss + cfg.aux_state_weight * aux
            logs["aux_state"] = aux
        logs["loss"] = loss
        return loss, {key: value.detach() for key, value in logs.items()}

    def _state_error(self, latents: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        """Mean squared error of the state head on latents [B,n,D] against normalised states [B,n,S]."""
        return (self.state_head(latents.float()) - state).pow(2).mean()

    def _infer_latent(self, ctx: torch.Tensor, tgt: torch.Tensor,
                      action: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """u [B,k,Z] inferred from (s_t, s_{t+1}, a_t), and its information penalty; (None, None) without one."""
        if self.latent_net is None:
            return None, None
        stats = self.latent_net(torch.cat([ctx.detach(), tgt.detach(), action.to(ctx.dtype)], dim=-1))
        mu, logvar = stats.float().chunk(2, dim=-1)  # [B,k,Z] each
        if self.cfg.z_penalty == "l2":
            return mu, mu.pow(2).sum(-1).mean()
        logvar = logvar.clamp(-8.0, 4.0)
        u = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)  # reparameterised sample
        return u, kl_standard_normal(mu, logvar)


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up to cfg.lr, then cosine decay to 10% of it at cfg.steps."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0))))


def ema_momentum_at(step: int, cfg: TrainConfig) -> float:
    """Cosine rise of the EMA momentum from cfg.ema_momentum to 1 over training (BYOL)."""
    progress = min(step / cfg.steps, 1.0)
    return 1.0 - (1.0 - cfg.ema_momentum) * 0.5 * (1.0 + math.cos(math.pi * progress))
