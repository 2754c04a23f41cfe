"""The checkpoint that ships in the repository, so the demo works offline on first run.

It was produced by our own commands (see the README, "Shipped checkpoint"): `jepa-mpc collect` on
PandaReach-v0, then `jepa-mpc train`. An empty checkpoint setting anywhere in the stack means this one.
"""
from __future__ import annotations

import pathlib

SHIPPED_CHECKPOINT = pathlib.Path(__file__).resolve().parent / "checkpoints" / "panda_reach"


def resolve_checkpoint(path: str | pathlib.Path | None) -> pathlib.Path:
    """`path`, or the shipped checkpoint when `path` is empty; FileNotFoundError naming what is missing."""
    from jepa_mpc.models.checkpoint import checkpoint_paths

    chosen = pathlib.Path(path) if path else SHIPPED_CHECKPOINT
    weights, meta = checkpoint_paths(chosen)
    if not weights.is_file() or not meta.is_file():
        hint = " (the shipped checkpoint is missing: reinstall or re-clone)" if not path else ""
        raise FileNotFoundError(f"checkpoint {chosen} not found: need {weights.name} and {meta.name}{hint}")
    return chosen
