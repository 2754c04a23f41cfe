"""Torch-ready training windows from an episode dataset: (obs_t, a_t..a_{t+k-1}, obs_{t+1}..obs_{t+k}).

Each item is a dict of tensors for one window of k actions and the k+1 observations around them:
image uint8 [k+1, H, W, 3], joint_pos / joint_vel float [k+1, J], ee_pos float [k+1, 3], action float [k, A],
plus each optional array (cube_pos [k+1, 3]) that every episode of the set records.
Episodes are checksum-verified and held in memory (a 64x64 dataset of 1000 episodes is about 0.8 GB).
"""
from __future__ import annotations

import pathlib
from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from jepa_mpc.models.episodes import OPTIONAL_ARRAYS, complete_indices, load_episode, read_dataset_meta, read_info

WINDOW_KEYS_OBS = ("image", "joint_pos", "joint_vel", "ee_pos")


class WindowDataset(Dataset):
    """All length-k windows of every complete episode under `root` (or of the given episode indices)."""

    def __init__(self, root: str | pathlib.Path, k: int = 1, episodes: Sequence[int] | None = None,
                 verify: bool = True, progress: bool = False) -> None:
        if k < 1:
            raise ValueError(f"window length k must be >= 1, got {k}")
        self.root = pathlib.Path(root)
        self.meta = read_dataset_meta(self.root)
        self.k = k
        indices = list(complete_indices(self.root) if episodes is None else episodes)
        if not indices:
            raise FileNotFoundError(f"{self.root} holds no complete episodes")
        iterator = indices
        if progress:
            from tqdm import tqdm

            iterator = tqdm(indices, desc="loading episodes", unit="ep")
        self.episodes = [load_episode(self.root, i, verify=verify) for i in iterator]
        self.episode_indices = indices
        optional = tuple(k for k in OPTIONAL_ARRAYS if all(k in ep for ep in self.episodes))
        self.obs_keys = WINDOW_KEYS_OBS + optional  # one key set for every item, so batches collate
        # (episode position, start step) of every window; episodes shorter than k contribute none.
        self._windows = np.array(
            [(e, t) for e, ep in enumerate(self.episodes) for t in range(ep["action"].shape[0] - k + 1)],
            dtype=np.int64,
        ).reshape(-1, 2)
        if len(self._windows) == 0:
            raise ValueError(f"no episode under {self.root} has {k} or more steps")

    def __len__(self) -> int:
        return len(self._windows)

    @property
    def windows(self) -> np.ndarray:
        """[N, 2] (position in `episodes`, start step) of every window, in index order."""
        return self._windows

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        e, t = self._windows[i]
        ep = self.episodes[e]
        item = {key: torch.from_numpy(np.ascontiguousarray(ep[key][t : t + self.k + 1])) for key in self.obs_keys}
        item["action"] = torch.from_numpy(np.ascontiguousarray(ep["action"][t : t + self.k]))
        return item


def split_episodes(root: str | pathlib.Path, val_fraction: float = 0.1, seed: int = 0) -> tuple[list[int], list[int]]:
    """Deterministic train/validation split of a dataset's complete episode indices (by episode, not window)."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    indices = np.array(complete_indices(root))
    rng = np.random.default_rng(seed)
    rng.shuffle(indices)
    n_val = int(round(len(indices) * val_fraction))
    if val_fraction > 0 and len(indices) > 1:
        n_val = max(1, n_val)
    return sorted(indices[n_val:].tolist()), sorted(indices[:n_val].tolist())


def held_out_windows(root: str | pathlib.Path, episodes: Sequence[int], horizon: int) -> WindowDataset:
    """Windows of `horizon` steps over the held-out `episodes` (shorter if an episode is: every one contributes),
    for the rollout error and the push response; episode lengths come from the sidecars, not the arrays."""
    if not episodes:
        raise ValueError(f"{root}: no held-out episodes (a dataset needs at least 2 complete episodes)")
    shortest = min(read_info(root, i).num_steps for i in episodes)
    return WindowDataset(root, min(horizon, shortest), episodes)
