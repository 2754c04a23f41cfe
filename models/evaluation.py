"""Held-out evaluation of a world model: open-loop rollout error vs horizon, and probes fitted on frozen latents.

Rollout errors are reported raw and normalised by the latent variance (1.0 = no better than predicting the mean
latent), next to a "nothing moves" baseline (z_h = z_0), so VICReg and EMA models of different scale compare.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence

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


def fit_probes(model: WorldModel, train: WindowDataset | Sequence[WindowDataset],
               val: WindowDataset | Sequence[WindowDataset], kind: str = "mlp", max_frames: int = 20_000,
               seed: int = 0) -> tuple[dict[str, Probe], dict[str, float]]:
    """Fit ee_pos and joint_pos probes (and cube_pos, when every episode records it) on frozen latents of `train`
    frames (up to `max_frames` from each dataset), evaluate on `val` frames.

    Returns the probes and a report: ee (and cube) error and mean-baseline error in cm, joint mean abs error in rad.
    """
    trains = list(train) if isinstance(train, (list, tuple)) else [train]
    vals = list(val) if isinstance(val, (list, tuple)) else [val]
    key = model.cfg.encoder.proprio_key
    episodes = [ep for ds in (*trains, *vals) for ep in ds.episodes]
    targets = PROBE_TARGETS + tuple(n for n in OPTIONAL_PROBE_TARGETS if all(n in ep for ep in episodes))
    keys = ("image", *targets) + (() if key in ("none", *targets) else (key,))
    report: dict[str, float] = {}
    probes: dict[str, Probe] = {}
    tr, va = _frames_of_all(trains, max_frames, keys), _frames_of_all(vals, max_frames, keys)
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


def _frames_of_all(datasets: Sequence[WindowDataset], max_frames: int, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    """frames_of each dataset (up to `max_frames` from each), concatenated per key."""
    parts = [frames_of(ds, max_frames, keys) for ds in datasets]
    return {k: np.concatenate([part[k] for part in parts]) for k in keys}


@torch.no_grad()
def push_response(model: WorldModel, dataset: WindowDataset, min_motion_m: float = 0.02, max_windows: int = 1024,
                  batch_size: int = 64) -> dict[str, float | int | list[float]] | None:
    """How much of a push the model predicts: over held-out windows whose recorded cube moves at least
    `min_motion_m` (table plane) by the window's end, roll the model open loop on the recorded actions and read
    the cube with the model's cube_pos probe. Per step h, ratio_h = sum(predicted displacement along the true one)
    / sum(true displacement), displacements from the probe's reading of the first frame (as the cube-push cost
    reads them). 1 = the whole push, 0 = the cube never moves. None without a cube_pos probe, recorded cube
    positions or moving windows. The planner scales predicted pushes by 1 / `ratio` (docs/experiments.md, "Push")."""
    if "cube_pos" not in model.probes or "cube_pos" not in dataset.obs_keys:
        return None
    k, cubes = dataset.k, [ep["cube_pos"][:, :2] for ep in dataset.episodes]
    moved = np.array([np.linalg.norm(cubes[e][t + k] - cubes[e][t]) for e, t in dataset.windows])  # [W] metres
    chosen = np.flatnonzero(moved >= min_motion_m)
    if len(chosen) == 0:
        return None
    chosen = chosen[_evenly(len(chosen), max_windows)]
    key = model.cfg.encoder.proprio_key
    along, true = torch.zeros(k), torch.zeros(k)
    for i in range(0, len(chosen), batch_size):
        items = [dataset[int(j)] for j in chosen[i : i + batch_size]]
        image = torch.stack([it["image"][0] for it in items])  # [B,h,w,3] the first frame only
        proprio = None if key == "none" else torch.stack([it[key][0] for it in items])
        action = torch.stack([it["action"] for it in items]).to(model.device)  # [B,H,A]
        cube = torch.stack([it["cube_pos"] for it in items])[..., :2].float()  # [B,H+1,2] recorded
        z0 = model.encode(image, proprio).float()  # [B,D]
        pred = model.probe("cube_pos", model.rollout(z0, action).float())[..., :2].cpu()  # [B,H,2]
        start = model.probe("cube_pos", z0)[:, None, :2].cpu()  # [B,1,2]
        true_d = cube[:, 1:] - cube[:, :1]  # [B,H,2]
        norm = true_d.norm(dim=-1)  # [B,H]
        along += ((pred - start) * true_d).sum(-1).div(norm.clamp_min(1e-6)).sum(0)
        true += norm.sum(0)
    per_step = (along / true.clamp_min(1e-9)).tolist()
    ratio = float(along.sum() / true.sum().clamp_min(1e-9))
    log.info("push response on %d held-out windows (cube moved >= %.0f cm in %d steps): the model predicts %.2f of "
             "the cube's motion (step 1: %.2f, step %d: %.2f)", len(chosen), 100 * min_motion_m, k, ratio,
             per_step[0], k, per_step[-1])
    return {"windows": int(len(chosen)), "ratio": ratio, "ratio_per_step": per_step}
