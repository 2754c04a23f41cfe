"""Self-describing world-model checkpoints: NAME.safetensors (weights) + NAME.json (configs, data fingerprint, sha256).

Both files are written atomically, the JSON last and only after the old one is removed, so a JSON always vouches
for complete weights. Loading is strict: a checksum mismatch, a truncated file, an unknown schema or config, or
any missing/unexpected/mis-shaped tensor raises CheckpointError naming the problem.
"""
from __future__ import annotations

import dataclasses
import datetime
import json
import logging
import os
import pathlib
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from jepa_mpc.models.atomic_io import atomic_write_bytes, atomic_write_json, sha256_file
from jepa_mpc.models.config import WorldModelConfig, config_from_dict, config_to_dict
from jepa_mpc.models.device import resolve_device
from jepa_mpc.models.world_model import WorldModel

log = logging.getLogger(__name__)

FORMAT = "jepa_mpc.world_model"
SCHEMA_VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint is missing, corrupted, or does not match this code's model."""


def checkpoint_paths(path: str | os.PathLike) -> tuple[pathlib.Path, pathlib.Path]:
    """(weights, config) paths from a run folder (its model.*), a .safetensors or .json file, or a bare stem."""
    path = pathlib.Path(path)
    if path.is_dir():
        path = path / "model"
    if path.suffix in (".safetensors", ".json"):
        path = path.with_suffix("")
    return path.with_name(path.name + ".safetensors"), path.with_name(path.name + ".json")


def save_checkpoint(path: str | os.PathLike, model: WorldModel, *, train_config: Any = None,
                    data_fingerprint: dict | None = None, metrics: dict | None = None,
                    preprocessing: dict | None = None) -> pathlib.Path:
    """Write `model` to path(.safetensors/.json); returns the weights path. `preprocessing`: how its training
    frames were cropped and resized (models/preprocess.py); None: rendered at the model's size."""
    weights_path, meta_path = checkpoint_paths(path)
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    meta_path.unlink(missing_ok=True)  # an old config must never vouch for new weights
    digest = atomic_write_bytes(weights_path, st_save(state))
    meta = {
        "format": FORMAT,
        "schema_version": SCHEMA_VERSION,
        "weights_file": weights_path.name,
        "weights_sha256": digest,
        "model_config": config_to_dict(model.cfg),
        "train_config": config_to_dict(train_config) if dataclasses.is_dataclass(train_config) else train_config,
        "data_fingerprint": data_fingerprint,
        "preprocessing": preprocessing,
        "metrics": metrics or {},
        "tensors": {k: list(v.shape) for k, v in state.items()},
        "torch_version": torch.__version__,
        "created_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    atomic_write_json(meta_path, meta)
    log.info("saved world model to %s (sha256 %s...)", weights_path, digest[:12])
    return weights_path


def read_checkpoint_meta(path: str | os.PathLike) -> dict:
    """Parse and check a checkpoint's JSON (format and schema version); does not read the weights."""
    _, meta_path = checkpoint_paths(path)
    try:
        meta = json.loads(meta_path.read_text())
    except FileNotFoundError as exc:
        raise CheckpointError(f"{meta_path}: checkpoint config missing (no world model saved at {path})") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{meta_path}: checkpoint config is not valid JSON (truncated or corrupted: "
                              f"{exc})") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{meta_path}: not a {FORMAT} checkpoint (format {meta.get('format')!r})"
                              if isinstance(meta, dict) else f"{meta_path}: not a {FORMAT} checkpoint")
    if meta.get("schema_version") != SCHEMA_VERSION:
        raise CheckpointError(f"{meta_path}: schema version {meta.get('schema_version')!r}, this code reads "
                              f"version {SCHEMA_VERSION}; retrain or convert the checkpoint")
    return meta


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "auto",
                    trainable: bool = False) -> WorldModel:
    """Strictly load a WorldModel; frozen and in eval mode unless `trainable` (gradients to actions still flow)."""
    weights_path, meta_path = checkpoint_paths(path)
    meta = read_checkpoint_meta(path)
    try:
        cfg = config_from_dict(WorldModelConfig, meta["model_config"])
    except (KeyError, ValueError, TypeError) as exc:
        raise CheckpointError(f"{meta_path}: model config does not match this code: {exc}") from exc
    if not weights_path.is_file():
        raise CheckpointError(f"{weights_path}: weights file missing")
    actual = sha256_file(weights_path)
    if actual != meta.get("weights_sha256"):
        raise CheckpointError(
            f"{weights_path}: checksum mismatch (config says {str(meta.get('weights_sha256'))[:12]}..., file is "
            f"{actual[:12]}...); the weights are truncated, corrupted or from another save")
    try:
        state = st_load(weights_path.read_bytes())
    except (SafetensorError, ValueError, OSError) as exc:
        raise CheckpointError(f"{weights_path}: unreadable safetensors file ({exc})") from exc
    with torch.random.fork_rng(devices=[]):  # building the modules must not disturb the caller's RNG
        model = WorldModel(cfg)
    _check_state(model, state, weights_path)
    model.load_state_dict(state, strict=True)
    model = model.to(resolve_device(device))
    if not trainable:
        model.eval().requires_grad_(False)
    return model


def _check_state(model: WorldModel, state: dict[str, torch.Tensor], where: pathlib.Path) -> None:
    """Raise CheckpointError listing every missing, unexpected or mis-shaped tensor."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = [f"{k}: file {list(state[k].shape)} vs model {list(expected[k].shape)}"
              for k in sorted(set(expected) & set(state)) if state[k].shape != expected[k].shape]
    if missing or unexpected or shapes:
        raise CheckpointError(f"{where}: weights do not match the model config (missing {missing[:8]}, unexpected "
                              f"{unexpected[:8]}, shape mismatches {shapes[:8]})")
