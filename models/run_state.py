"""Resumable training state of a run folder, and the fingerprint of the dataset it was trained on.

RUN/checkpoints/step_0001000.pt holds everything needed to continue bit-identically (model, expander/target,
optimizer, RNG, collapse-detector strikes); RUN/checkpoints/last.json names the newest one with its sha256 and the
configs. Step files are written before the manifest and pruned after it, so a kill at any point leaves a
manifest that points at a complete file.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import pathlib
from typing import Any

import torch

from jepa_mpc.models.atomic_io import atomic_write, atomic_write_json, sha256_file
from jepa_mpc.models.episodes import complete_indices, read_dataset_meta, read_info

log = logging.getLogger(__name__)

MANIFEST_FORMAT = "jepa_mpc.train_state"
MANIFEST_VERSION = 1


def dataset_fingerprint(root: str | os.PathLike) -> dict[str, Any]:
    """sha256 over dataset.json and every complete episode's (index, sha256), with counts; cheap (sidecars only)."""
    meta = read_dataset_meta(root)
    infos = [read_info(root, i) for i in complete_indices(root)]
    digest = hashlib.sha256(json.dumps(meta, sort_keys=True).encode())
    for info in infos:
        digest.update(f"{info.index}:{info.sha256}\n".encode())
    return {"sha256": digest.hexdigest(), "episodes": len(infos), "steps": sum(i.num_steps for i in infos),
            "env_id": meta.get("env_id"), "path": str(pathlib.Path(root).resolve())}


def _ckpt_dir(run: str | os.PathLike) -> pathlib.Path:
    return pathlib.Path(run) / "checkpoints"


def read_manifest(run: str | os.PathLike) -> dict | None:
    """The run's last.json, or None when the run has no checkpoint yet."""
    path = _ckpt_dir(run) / "last.json"
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise RuntimeError(f"{path}: unreadable checkpoint manifest ({exc})") from exc
    if manifest.get("format") != MANIFEST_FORMAT or manifest.get("version") != MANIFEST_VERSION:
        raise RuntimeError(f"{path}: not a {MANIFEST_FORMAT} v{MANIFEST_VERSION} manifest")
    return manifest


def save_train_state(run: str | os.PathLike, step: int, state: dict, info: dict, keep: int = 2) -> pathlib.Path:
    """Write `state` (torch.save-able: tensors, numbers, strings) for `step`, point last.json at it, prune."""
    folder = _ckpt_dir(run)
    path = folder / f"step_{step:07d}.pt"
    digest = atomic_write(path, lambda f: torch.save(state, f))
    atomic_write_json(folder / "last.json", {"format": MANIFEST_FORMAT, "version": MANIFEST_VERSION, "step": step,
                                             "file": path.name, "sha256": digest, **info})
    for old in sorted(folder.glob("step_*.pt"))[:-keep]:
        old.unlink(missing_ok=True)
    return path


def load_train_state(run: str | os.PathLike, map_location: str | torch.device = "cpu") -> tuple[dict, dict]:
    """(state, manifest) of the run's newest checkpoint; RuntimeError naming the problem if it is damaged."""
    manifest = read_manifest(run)
    if manifest is None:
        raise FileNotFoundError(f"{run} has no checkpoint to resume from (no checkpoints/last.json)")
    path = _ckpt_dir(run) / manifest["file"]
    if not path.is_file():
        raise RuntimeError(f"{path}: checkpoint named by last.json is missing")
    if sha256_file(path) != manifest["sha256"]:
        raise RuntimeError(f"{path}: checksum mismatch with last.json; the file is corrupted or truncated")
    state = torch.load(path, map_location=map_location, weights_only=True)
    return state, manifest
