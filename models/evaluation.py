"""Held-out evaluation of a world model: open-loop rollout error vs horizon, and probes fitted on frozen latents.

Rollout errors are reported raw and normalised by the latent variance (1.0 = no better than predicting the mean
latent), next to a "nothing moves" baseline (z_h = z_0), so VICReg and EMA models of different scale compare.
"""
from __future__ import annotations

import logging

import numpy as np
import torch

from jepa_mpc.models.config import ProbeConfig
from jepa_mpc.models.data import WindowDataset
from jepa_mpc.models.probes import Probe, fit_probe, probe_errors
from jepa_mpc.models.world_model import WorldModel

log = logging.getLogger(__name__)

PROBE_TARGETS = ("ee_pos", "joint_pos")
OPTIONAL_PROBE_TARGETS = ("cube_pos",)
"""Fitted only when every episode records them (Push datasets collected with the cube's position)."""


def _evenly(n: int, limit: int) -> np.ndarray:
    """Up to `limit` indices spread evenly over range(n) (deterministic)."""
    return np.unique(np.linspace(0, n - 1, num=min(n, limit)).round().astype(np.int64))


@torch.no_grad()
def encode_in_batches(model: WorldModel, image: np.ndarray | torch.Tensor, proprio: np.ndarray | None = None,
                      batch_size: int = 256) -> torch.Tensor:
    """Encode frames uint8 [N,H,W,3] (+ proprio [N,P]) -> z [N,D] on the model's device, in float32."""
    out = []
    for i in range(0, len(image), batch_size):
        img = torch.as_tensor(image[i : i + batch_size])
        p = None if proprio is None else torch.as_tensor(proprio[i : i + batch_size])
        out.append(model.encode(img, p).float())
    return torch.cat(out)


def frames_of(dataset: WindowDataset, max_frames: int, keys: tuple[str, ...] = ("image", *PROBE_TARGETS)
              ) -> dict[str, np.ndarray]:
    """Up to `max_frames` frames spread evenly over all episodes of `dataset`: key -> [N,...] arrays."""
    offsets = np.cumsum([0] + [len(ep["image"]) for ep in dataset.episodes])
    idx = _evenly(int(offsets[-1]), max_frames)
    ep_idx = np.searchsorted(offsets, idx, side="right") - 1
    t = idx - offsets[ep_idx]
    return {k: np.stack([dataset.episodes[e][k][i] for e, i in zip(ep_idx, t, strict=True)]) for k in keys}


@torch.no_grad()
def rollout_errors(model: WorldModel, dataset: WindowDataset, max_windows: int = 512,
                   batch_size: int = 64) -> dict[str, list[float] | float]:
    """Open-loop prediction error per horizon step over up to `max_windows` held-out windows.

    Returns mse [H], copy_mse [H] (z_h = z_0 baseline), latent_var (mean per-dim variance of encoded frames) and
    normalized [H] = mse / latent_var.
    """
    key = model.cfg.encoder.proprio_key
    idx = _evenly(len(dataset), max_windows)
    sq = copy = None
    frames = []
    for i in range(0, len(idx), batch_size):
        items = [dataset[int(j)] for j in idx[i : i + batch_size]]
        image = torch.stack([it["image"] for it in items])  # [B,H+1,h,w,3]
        action = torch.stack([it["action"] for it in items]).to(model.device)  # [B,H,A]
        proprio = None if key == "none" else torch.stack([it[key] for it in items]).flatten(0, 1)
        b, h1 = image.shape[:2]
        z = model.encode(image.flatten(0, 1), proprio).float().unflatten(0, (b, h1))  # [B,H+1,D]
        pred = model.rollout(z[:, 0], action).float()  # [B,H,D]
        step_sq = (pred - z[:, 1:]).pow(2).mean(-1).sum(0)  # [H]
        step_copy = (z[:, :1] - z[:, 1:]).pow(2).mean(-1).sum(0)  # [H]
        sq = step_sq if sq is None else sq + step_sq
        copy = step_copy if copy is None else copy + step_copy
        frames.append(z.flatten(0, 1))
    n = len(idx)
    latent_var = float(torch.cat(frames).var(0).mean())
    mse, copy_mse = (sq / n).tolist(), (copy / n).tolist()
    return {"mse": mse, "copy_mse": copy_mse, "latent_var": latent_var,
            "normalized": [m / max(latent_var, 1e-12) for m in mse]}


def fit_probes(model: WorldModel, train: WindowDataset, val: WindowDataset, kind: str = "mlp",
               max_frames: int = 20_000, seed: int = 0) -> tuple[dict[str, Probe], dict[str, float]]:
    """Fit ee_pos and joint_pos probes (and cube_pos, when every episode records it) on frozen latents of `train`
    frames, evaluate on `val` frames.

    Returns the probes and a report: ee (and cube) error and mean-baseline error in cm, joint mean abs error in rad.
    """
    key = model.cfg.encoder.proprio_key
    targets = PROBE_TARGETS + tuple(
        n for n in OPTIONAL_PROBE_TARGETS if all(n in ep for ep in (*train.episodes, *val.episodes)))
    keys = ("image", *targets) + (() if key in ("none", *targets) else (key,))
    report: dict[str, float] = {}
    probes: dict[str, Probe] = {}
    tr, va = frames_of(train, max_frames, keys), frames_of(val, max_frames, keys)
    z_tr = encode_in_batches(model, tr["image"], None if key == "none" else tr[key])
    z_va = encode_in_batches(model, va["image"], None if key == "none" else va[key])
    for name in targets:
        y_tr = torch.as_tensor(tr[name], device=z_tr.device).float()
        y_va = torch.as_tensor(va[name], device=z_va.device).float()
        probe = fit_probe(z_tr, y_tr, ProbeConfig(name=name, out_dim=y_tr.shape[1], kind=kind), seed=seed)
        errs = probe_errors(probe, z_va, y_va, baseline=y_tr.mean(0))
        probes[name] = probe
        if name == "joint_pos":
            report |= {"joint_mae_rad": errs["mae"], "joint_baseline_mae_rad": errs["baseline_mae"]}
        else:
            short = name.removesuffix("_pos")
            report |= {f"{short}_err_cm": 100 * errs["err"], f"{short}_baseline_cm": 100 * errs["baseline_err"]}
    log.info("probes on %d held-out frames: EE %.2f cm (mean baseline %.2f cm), joints %.3f rad (baseline %.3f)%s",
             len(z_va), report["ee_err_cm"], report["ee_baseline_cm"], report["joint_mae_rad"],
             report["joint_baseline_mae_rad"],
             f", cube {report['cube_err_cm']:.2f} cm (baseline {report['cube_baseline_cm']:.2f} cm)"
             if "cube_err_cm" in report else "")
    return probes, report
