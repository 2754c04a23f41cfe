"""On-disk episode dataset: one compressed .npz of arrays plus a .json sidecar with its checksum, per episode.

Layout of a dataset folder (format version 1)::

    DIR/dataset.json              what collected it: env id, image size, policy mix, seed, format version
    DIR/episodes/ep_000042.npz    arrays of one episode (see EPISODE_ARRAYS), written atomically
    DIR/episodes/ep_000042.json   sidecar: sha256 of the .npz, step count, seed, success; written last

An episode exists only once its sidecar does and the .npz matches the sidecar's SHA-256, so a run killed at any
point leaves no episode that loads half-written: `--resume` simply redoes the indices that are not complete.
"""
from __future__ import annotations

import dataclasses
import io
import json
import pathlib
import zipfile

import numpy as np

from jepa_mpc.models.atomic_io import atomic_write, atomic_write_json, sha256_file

FORMAT = "jepa_mpc.episodes"
FORMAT_VERSION = 1

# name -> (dtype, shape with "T" for steps (T+1 observations, T actions), "H","W" image size, ints fixed).
EPISODE_ARRAYS: dict[str, tuple[str, tuple]] = {
    "image": ("uint8", ("T+1", "H", "W", 3)),  # RGB camera frames, frame t is observed before action t
    "joint_pos": ("float32", ("T+1", "J")),  # arm (+ finger) joint positions, rad / m
    "joint_vel": ("float32", ("T+1", "J")),
    "ee_pos": ("float32", ("T+1", 3)),  # end-effector position, world frame, m
    "ee_quat": ("float32", ("T+1", 4)),  # end-effector orientation, wxyz
    "action": ("float32", ("T", "A")),  # action applied between frame t and t+1, in [-1, 1]
    "success": ("bool", ("T+1",)),  # task success flag at each frame
    "goal_image": ("uint8", ("H", "W", 3)),  # the goal as an image
    "goal_pos": ("float32", (3,)),  # the goal as a position (EE for reach, cube for push), m
}
OPTIONAL_ARRAYS: dict[str, tuple[str, tuple]] = {
    "cube_pos": ("float32", ("T+1", 3)),  # cube centre, world frame, m (Panda scenes; labels for a cube probe)
}


class CorruptEpisodeError(RuntimeError):
    """An episode file is missing, truncated, fails its checksum or has the wrong arrays."""


@dataclasses.dataclass(frozen=True)
class EpisodeInfo:
    """Sidecar metadata of one complete episode."""

    index: int
    num_steps: int
    seed: int
    success: bool
    policy: str
    sha256: str


def episode_paths(root: str | pathlib.Path, index: int) -> tuple[pathlib.Path, pathlib.Path]:
    """(npz, sidecar json) paths of episode `index` under dataset folder `root`."""
    folder = pathlib.Path(root) / "episodes"
    return folder / f"ep_{index:06d}.npz", folder / f"ep_{index:06d}.json"


def validate_arrays(arrays: dict[str, np.ndarray]) -> int:
    """Check names, dtypes and mutually consistent shapes; return the number of steps T."""
    missing = sorted(set(EPISODE_ARRAYS) - set(arrays))
    if missing:
        raise CorruptEpisodeError(f"episode lacks arrays {missing}")
    num_steps = arrays["action"].shape[0] if arrays["action"].ndim == 2 else -1
    image = arrays["image"]
    if image.ndim != 4:
        raise CorruptEpisodeError(f"image must be [T+1,H,W,3], got shape {image.shape}")
    sizes = {"T": num_steps, "T+1": num_steps + 1, "H": image.shape[1], "W": image.shape[2],
             "J": arrays["joint_pos"].shape[-1], "A": arrays["action"].shape[-1]}
    present = {**EPISODE_ARRAYS, **{k: v for k, v in OPTIONAL_ARRAYS.items() if k in arrays}}
    for name, (dtype, shape) in present.items():
        arr = arrays[name]
        want = tuple(sizes[d] if isinstance(d, str) else d for d in shape)
        if arr.dtype != np.dtype(dtype) or arr.shape != want:
            raise CorruptEpisodeError(f"array {name!r} is {arr.dtype}{list(arr.shape)}, expected {dtype}{list(want)}")
    if num_steps < 1:
        raise CorruptEpisodeError("episode has no steps")
    return num_steps


def write_episode(root: str | pathlib.Path, index: int, arrays: dict[str, np.ndarray], *, seed: int,
                  policy: str) -> EpisodeInfo:
    """Validate and atomically write episode `index`: the .npz first, then its checksummed sidecar."""
    num_steps = validate_arrays(arrays)
    npz_path, json_path = episode_paths(root, index)
    json_path.unlink(missing_ok=True)  # an old sidecar must never vouch for a new .npz
    digest = atomic_write(npz_path, lambda f: np.savez_compressed(f, **arrays))
    info = EpisodeInfo(index, num_steps, int(seed), bool(arrays["success"].any()), policy, digest)
    atomic_write_json(json_path, {"format": FORMAT, "version": FORMAT_VERSION, **dataclasses.asdict(info)})
    return info


def read_info(root: str | pathlib.Path, index: int) -> EpisodeInfo:
    """Parse episode `index`'s sidecar (does not read the .npz)."""
    _, json_path = episode_paths(root, index)
    try:
        meta = json.loads(json_path.read_text())
        if meta.get("format") != FORMAT or meta.get("version") != FORMAT_VERSION:
            raise CorruptEpisodeError(
                f"{json_path}: format {meta.get('format')!r} v{meta.get('version')}, expected {FORMAT} "
                f"v{FORMAT_VERSION}"
            )
        return EpisodeInfo(**{f.name: meta[f.name] for f in dataclasses.fields(EpisodeInfo)})
    except FileNotFoundError as exc:
        raise CorruptEpisodeError(f"{json_path}: sidecar missing (episode incomplete)") from exc
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise CorruptEpisodeError(f"{json_path}: unreadable sidecar ({exc})") from exc


def is_complete(root: str | pathlib.Path, index: int) -> bool:
    """True when episode `index` has a sidecar and its .npz matches the recorded checksum."""
    npz_path, _ = episode_paths(root, index)
    try:
        return npz_path.is_file() and sha256_file(npz_path) == read_info(root, index).sha256
    except CorruptEpisodeError:
        return False


def load_episode(root: str | pathlib.Path, index: int, verify: bool = True) -> dict[str, np.ndarray]:
    """Load episode `index` as a dict of arrays; raise CorruptEpisodeError with the reason if it is damaged."""
    npz_path, _ = episode_paths(root, index)
    info = read_info(root, index)
    if not npz_path.is_file():
        raise CorruptEpisodeError(f"{npz_path}: data file missing")
    data = npz_path.read_bytes()
    if verify:
        import hashlib

        actual = hashlib.sha256(data).hexdigest()
        if actual != info.sha256:
            raise CorruptEpisodeError(
                f"{npz_path}: checksum mismatch (sidecar {info.sha256[:12]}..., file {actual[:12]}...); the file "
                "is corrupted or was modified. Delete it and re-run collection with --resume."
            )
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise CorruptEpisodeError(f"{npz_path}: unreadable ({exc})") from exc
    if validate_arrays(arrays) != info.num_steps:
        raise CorruptEpisodeError(f"{npz_path}: {arrays['action'].shape[0]} steps, sidecar says {info.num_steps}")
    return arrays


def complete_indices(root: str | pathlib.Path, verify: bool = False) -> list[int]:
    """Sorted indices of episodes with a sidecar (and, with verify, a matching checksum)."""
    folder = pathlib.Path(root) / "episodes"
    indices = sorted(int(p.stem[3:]) for p in folder.glob("ep_*.json") if p.stem[3:].isdigit())
    return [i for i in indices if is_complete(root, i)] if verify else indices


def read_dataset_meta(root: str | pathlib.Path) -> dict:
    """Parse DIR/dataset.json, with a clear error if the folder is not a dataset."""
    path = pathlib.Path(root) / "dataset.json"
    try:
        meta = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"{root} is not a jepa_mpc dataset (no dataset.json); create one with "
                                "`jepa-mpc collect`") from exc
    if meta.get("format") != FORMAT or meta.get("version") != FORMAT_VERSION:
        raise CorruptEpisodeError(f"{path}: not a {FORMAT} v{FORMAT_VERSION} dataset")
    return meta
