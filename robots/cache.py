"""On-disk cache of what is slow to derive from a description (check spheres: 1-4 s; a found home pose: ~0.5 s).

The key hashes the compiled model as MuJoCo saves it (every body, joint, geom and mesh vertex, the base pose
included), the settings that shape the result, and the source of the code that computes it; a change to any of
them is a new key. Files are written atomically; an unreadable entry is recomputed. JEPA_MPC_CACHE sets the folder
(default ~/.cache/jepa_mpc); JEPA_MPC_CACHE=off turns the cache off.
"""
from __future__ import annotations

import hashlib
import json
import os
import pathlib
import tempfile
from collections.abc import Callable

import mujoco
import numpy as np

_CODE = ("spheres.py", "home.py", "robot.py", "kinematics.py")


def _folder() -> pathlib.Path | None:
    setting = os.environ.get("JEPA_MPC_CACHE", "")
    if setting.lower() in ("off", "0", "none"):
        return None
    root = pathlib.Path(setting).expanduser() if setting else pathlib.Path.home() / ".cache" / "jepa_mpc"
    return root / "robots"


def model_key(model: mujoco.MjModel, *parts: object) -> str:
    """sha256 of the compiled model's bytes, the given settings and this package's derivation code."""
    digest = hashlib.sha256()
    buffer = np.zeros(mujoco.mj_sizeModel(model), dtype=np.uint8)
    mujoco.mj_saveModel(model, None, buffer)
    digest.update(buffer.tobytes())
    digest.update(json.dumps(parts, default=str).encode())
    here = pathlib.Path(__file__).parent
    for name in _CODE:
        digest.update((here / name).read_bytes())
    return digest.hexdigest()


def cached(key: str, compute: Callable[[], object]) -> object:
    """compute()'s JSON-able result, from the cache when present (and stored there when not)."""
    folder = _folder()
    path = folder / f"{key}.json" if folder is not None else None
    if path is not None and path.is_file():
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            pass  # unreadable: recompute and overwrite
    value = compute()
    if path is not None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile("w", dir=folder, suffix=".tmp", delete=False) as fh:
                json.dump(value, fh)
            os.replace(fh.name, path)
        except OSError:  # a read-only home: the result still stands, only uncached
            pass
    return value
