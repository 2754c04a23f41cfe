"""The checkpoint that ships in the repository, so the demo works offline on first run.

It was produced by our own commands (docs/reference.md, "World model"): `jepa-mpc collect` on
PandaReach-v0, then `jepa-mpc train`. An empty checkpoint setting anywhere in the stack means this one.
"""
from __future__ import annotations

import dataclasses
import pathlib

SHIPPED_CHECKPOINT = pathlib.Path(__file__).resolve().parent / "checkpoints" / "panda_reach"
SHIPPED_REACHER_CHECKPOINT = SHIPPED_CHECKPOINT.with_name("dmc_reacher")
"""The dm_control Reacher model (image + joint velocities, 12000 steps; docs/experiments.md, "dm_control Reacher")."""


@dataclasses.dataclass(frozen=True)
class ImageGoalPlanning:
    """Image-goal planner settings tuned with the shipped checkpoint by `jepa-mpc eval` (docs/experiments.md);
    the mpc node and `jepa-mpc eval` default to them."""

    horizon: int = 20
    """Far goals: along the joint path the latent energy first rises, then falls; 10 steps do not see past it."""
    goal_mode: str = "closest"
    """The smallest energy along the plan. Near the goal, 20-step open-loop predictions drift (a still arm is
    predicted to move by more than the energy left to gain), so terminal or mean energy let that drift steer the
    arm away; the closest step is an early one there, where predictions are accurate. Seed 4: 0.99 vs 0.89."""
    action_weight: float = 0.3
    """Weight of the mean squared action: near the goal the energy is flat, so stillness should win."""


SHIPPED_IMAGE_GOAL_PLANNING = ImageGoalPlanning()


def resolve_checkpoint(path: str | pathlib.Path | None, default: pathlib.Path = SHIPPED_CHECKPOINT) -> pathlib.Path:
    """`path`, or the shipped `default` when `path` is empty; FileNotFoundError naming what is missing."""
    from jepa_mpc.models.checkpoint import checkpoint_paths

    chosen = pathlib.Path(path) if path else default
    weights, meta = checkpoint_paths(chosen)
    if not weights.is_file() or not meta.is_file():
        hint = " (the shipped checkpoint is missing: reinstall or re-clone)" if not path else ""
        raise FileNotFoundError(f"checkpoint {chosen} not found: need {weights.name} and {meta.name}{hint}")
    return chosen
