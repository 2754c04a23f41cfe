"""The checkpoint that ships in the repository, so the demo works offline on first run.

It was produced by our own commands (docs/reference.md, "World model"): `jepa-mpc collect` on
PandaReach-v0, then `jepa-mpc train`. An empty checkpoint setting anywhere in the stack means this one.
"""
from __future__ import annotations

import pathlib

CHECKPOINT_DIR = pathlib.Path(__file__).resolve().parent / "checkpoints"
"""Where the shipped checkpoints live (package data); each task names its own (jepa_mpc.tasks)."""
SHIPPED_CHECKPOINT = CHECKPOINT_DIR / "panda_reach"
"""The embedded Panda's Reach model, the default wherever a checkpoint setting is empty."""


def resolve_checkpoint(path: str | pathlib.Path | None, default: pathlib.Path = SHIPPED_CHECKPOINT) -> pathlib.Path:
    """`path`, or the shipped `default` when `path` is empty, or a shipped checkpoint by name (`ur5e_reach`: one
    in CHECKPOINT_DIR, when no such file is here); FileNotFoundError naming what is missing."""
    from jepa_mpc.models.checkpoint import checkpoint_paths

    chosen = pathlib.Path(path) if path else default
    if path and chosen.name == str(path) and not checkpoint_paths(chosen)[1].is_file() \
            and checkpoint_paths(CHECKPOINT_DIR / chosen)[1].is_file():
        chosen = CHECKPOINT_DIR / chosen
    weights, meta = checkpoint_paths(chosen)
    if not weights.is_file() or not meta.is_file():
        hint = " (the shipped checkpoint is missing: reinstall or re-clone)" if not path else ""
        raise FileNotFoundError(f"checkpoint {chosen} not found: need {weights.name} and {meta.name}{hint}")
    return chosen
