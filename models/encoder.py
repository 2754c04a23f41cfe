"""Conv encoder: uint8 RGB [B,H,W,3] (+ proprioception [B,P]) -> one latent vector [B,D].

A single token per frame keeps the predictor small enough for thousands of CPU rollouts per control tick
(anchors.md section C). Normalisation constants are buffers fitted to the training data and saved with the weights.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812 (the PyTorch idiom)
from torch import nn

from jepa_mpc.models.config import EncoderConfig


class ConvEncoder(nn.Module):
    """Stride-2 conv stages (GroupNorm + SiLU), flatten, linear head to the latent."""

    def __init__(self, cfg: EncoderConfig, latent_dim: int, latent_norm: bool = False) -> None:
        super().__init__()
        self.cfg = cfg
        self.latent_dim = latent_dim
        self.latent_norm = latent_norm
        layers: list[nn.Module] = []
        c_in = 3
        for width in cfg.widths:
            layers += [nn.Conv2d(c_in, width, kernel_size=4, stride=2, padding=1),
                       nn.GroupNorm(_groups(width), width), nn.SiLU()]
            c_in = width
        self.trunk = nn.Sequential(*layers)
        feat = c_in * cfg.feature_size**2
        self.register_buffer("pixel_mean", torch.full((3,), 0.5))  # in [0, 1] units
        self.register_buffer("pixel_std", torch.full((3,), 0.25))
        if cfg.proprio_dim > 0:
            self.proprio = nn.Sequential(nn.Linear(cfg.proprio_dim, cfg.proprio_hidden), nn.SiLU())
            self.register_buffer("proprio_mean", torch.zeros(cfg.proprio_dim))
            self.register_buffer("proprio_std", torch.ones(cfg.proprio_dim))
            feat += cfg.proprio_hidden
        else:
            self.proprio = None
        self.head = nn.Linear(feat, latent_dim)

    @torch.no_grad()
    def set_normalization(self, pixel_mean: torch.Tensor, pixel_std: torch.Tensor,
                          proprio_mean: torch.Tensor | None = None, proprio_std: torch.Tensor | None = None) -> None:
        """Store data statistics: pixel mean/std per channel in [0, 1] units [3]; proprio mean/std [P]."""
        self.pixel_mean.copy_(pixel_mean)
        self.pixel_std.copy_(pixel_std.clamp_min(1e-3))
        if self.proprio is not None:
            if proprio_mean is None or proprio_std is None:
                raise ValueError("this encoder takes proprioception: pass proprio_mean and proprio_std")
            self.proprio_mean.copy_(proprio_mean)
            self.proprio_std.copy_(proprio_std.clamp_min(1e-3))

    def forward(self, image: torch.Tensor, proprio: torch.Tensor | None = None) -> torch.Tensor:
        """image uint8 [B,H,W,3] (+ proprio float [B,P]) -> z float [B,D]."""
        if image.dtype != torch.uint8 or image.ndim != 4 or image.shape[-1] != 3:
            raise ValueError(f"image must be uint8 [B,H,W,3], got {image.dtype} {list(image.shape)}")
        x = image.permute(0, 3, 1, 2).float().div_(255.0)  # [B,3,H,W] in [0,1]
        size = self.cfg.image_size
        if x.shape[-2:] != (size, size):
            x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        x = (x - self.pixel_mean[:, None, None]) / self.pixel_std[:, None, None]
        feat = self.trunk(x).flatten(1)  # [B, C*f*f]
        if self.proprio is not None:
            if proprio is None:
                raise ValueError(f"this encoder needs proprio [B,{self.cfg.proprio_dim}] "
                                 f"({self.cfg.proprio_key}); got None")
            p = (proprio.to(feat.dtype) - self.proprio_mean) / self.proprio_std
            feat = torch.cat([feat, self.proprio(p)], dim=-1)
        z = self.head(feat)  # [B, D]
        return F.layer_norm(z, (self.latent_dim,)) if self.latent_norm else z


def _groups(width: int) -> int:
    """Largest group count <= 8 that divides `width`."""
    return next(g for g in (8, 4, 2, 1) if width % g == 0)
