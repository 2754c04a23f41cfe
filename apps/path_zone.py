"""A keep-out sphere on an episode's straight path (`jepa-mpc eval --keep-out-on-path R`): the test that the planner
goes around an obstacle instead of through it.

The sphere is centred on the straight line from the tool's start to the goal, where along it (between 20 % and 80 %
of the way) it can be largest, up to the radius asked: it never touches the arm at the start or at the goal
configuration (each check sphere keeps `margin_m` of clearance), because a goal that no motion can reach is no test
of going around. The whole arm is checked, so a path along the hand's own axis (the hand retracting or advancing)
has no room for an obstacle: such episodes get none, and eval reports how many did.
"""
from __future__ import annotations

import numpy as np

from jepa_mpc.planner.config import SphereZone

MIN_RADIUS_M = 0.01
"""A zone that would have to be smaller than this to leave the start and goal clear is not placed."""
FRACTIONS = np.linspace(0.2, 0.8, 13)
"""Where along the path the centre may go (ties go to the middle)."""


def path_zone(start_tool: np.ndarray, goal: np.ndarray, start_points: np.ndarray, goal_points: np.ndarray,
              radii: np.ndarray, radius_m: float, margin_m: float = 0.01) -> SphereZone | None:
    """The largest sphere (radius at most `radius_m`) centred on the segment from `start_tool` [3] to `goal` [3] that
    keeps the check points of the start and goal configurations ([P, 3] each, radii [P]) and both ends `margin_m`
    clear; None when no such sphere reaches MIN_RADIUS_M."""
    start, goal = np.asarray(start_tool, dtype=np.float64), np.asarray(goal, dtype=np.float64)
    centres = start + FRACTIONS[:, None] * (goal - start)  # [C, 3]
    points = np.concatenate([start_points, goal_points, start[None], goal[None]])  # [2P + 2, 3]
    sizes = np.concatenate([radii, radii, [0.0, 0.0]])
    clear = np.linalg.norm(centres[:, None] - points[None], axis=-1) - sizes - margin_m  # [C, 2P + 2]
    radius = np.minimum(clear.min(axis=1), float(radius_m))  # [C]
    best = int(np.argmax(radius - 1e-9 * np.abs(FRACTIONS - 0.5)))  # the middle wins ties
    if radius[best] < MIN_RADIUS_M:
        return None
    return SphereZone(tuple(float(c) for c in centres[best]), float(radius[best]))
