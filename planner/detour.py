"""A way around keep-out zones for a Cartesian goal: the next via point the tool should head for.

The MPC plans over a 2 s horizon with a cost on the distance to its goal. With a zone on the straight path, every
plan that heads for the goal is infeasible and every feasible one ends no closer, so the arm stops at the zone. The
router gives the planner a goal it can reach: when the straight segment from the tool to the goal passes through a
zone (grown by `clearance_m`, the size of the hand around the tool point), it is the last visible point of a ring
around that zone, through the tool's side of it and pulled towards going over (an arm reaches down to its hand, so
its forearm follows the hand over an obstacle, not under one). Called once per
tick from the current tool position, it walks the tool around the zone ring point by ring point until the goal is in
sight; the guardrails, not the router, keep the arm out of the zones. A box zone is routed around as its bounding
sphere.

Host-side NumPy on [3]-vectors, once per control tick (not inside a planning iteration).
"""
from __future__ import annotations

import numpy as np

from jepa_mpc.planner.config import SphereZone, Zone

RING_POINTS = 24
"""Ring points over the full circle: 15 degrees apart, so a chord between neighbours stays outside the grown zone
(the ring's radius is grown by RING_SLACK, more than 1 / cos(7.5 deg) - 1)."""
RING_SLACK = 1.1


def _ball(zone: Zone) -> tuple[np.ndarray, float]:
    """(centre [3], radius) of a sphere zone, or of a box zone's bounding sphere."""
    if isinstance(zone, SphereZone):
        return np.asarray(zone.center, dtype=np.float64), float(zone.radius)
    lo, hi = np.asarray(zone.lo, dtype=np.float64), np.asarray(zone.hi, dtype=np.float64)
    return (lo + hi) / 2, float(np.linalg.norm(hi - lo) / 2)


def _segment_distance(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> float:
    """Distance from point c to the segment a-b."""
    ab = b - a
    t = float(np.clip(np.dot(c - a, ab) / max(float(np.dot(ab, ab)), 1e-12), 0.0, 1.0))
    return float(np.linalg.norm(a + t * ab - c))


def _blocked(a: np.ndarray, b: np.ndarray, balls: list[tuple[np.ndarray, float]]) -> list[int]:
    """Indices of the balls the segment a-b passes through."""
    return [i for i, (c, r) in enumerate(balls) if _segment_distance(a, b, c) < r]


def _ring(tool: np.ndarray, goal: np.ndarray, centre: np.ndarray, radius: float) -> np.ndarray:
    """Ring points [RING_POINTS // 2 + 1, 3] around `centre` (radius grown by RING_SLACK), ordered from the tool's end
    of the zone to the goal's end."""
    u = goal - tool
    u = u / max(float(np.linalg.norm(u)), 1e-12)
    # The tool's own side of the zone, pulled towards "over" (an arm reaches down to its hand, so under the zone its
    # forearm would not pass): over, unless the tool is already more than a radius to one side (then stay there, so
    # the ring does not swap sides from one tick to the next).
    off = (tool - centre) - float(np.dot(tool - centre, u)) * u
    side = off / radius + (np.array([0.0, 0.0, 1.0]) - u[2] * u)
    if float(np.linalg.norm(side)) < 1e-6:  # head-on along a vertical path
        side = np.array([0.0, 1.0, 0.0]) - u[1] * u
    side = side / float(np.linalg.norm(side))
    angles = np.linspace(np.pi, 0.0, RING_POINTS // 2 + 1)  # from behind the zone (-u), over the side, to ahead (+u)
    return centre + radius * RING_SLACK * (np.cos(angles)[:, None] * u + np.sin(angles)[:, None] * side)


def via_point(tool: object, goal: object, zones: tuple[Zone, ...], clearance_m: float) -> np.ndarray:
    """Where the tool should head next [3]: `goal` when the straight segment to it is clear of every zone grown by
    `clearance_m`, else the farthest point around the first blocking zone that the tool can see. A goal nearer the
    zone than the clearance is reached by going round at the goal's own distance from the zone."""
    tool, goal = np.asarray(tool, dtype=np.float64), np.asarray(goal, dtype=np.float64)
    balls = [(c, r + clearance_m) for c, r in map(_ball, zones)]
    blocking = _blocked(tool, goal, balls)
    if not blocking or not (np.all(np.isfinite(tool)) and np.all(np.isfinite(goal))):
        return goal
    first = min(blocking, key=lambda i: float(np.dot(balls[i][0] - tool, goal - tool)))  # nearest along the path
    centre, radius = balls[first]
    bare = radius - clearance_m
    reach = float(np.linalg.norm(goal - centre))
    if reach <= bare:  # the goal is inside the zone itself: no way around leads there
        return goal
    if reach < radius * RING_SLACK:  # the goal is closer than the clearance: go round at the goal's distance
        # (or the tool's, if nearer: a ring outside the tool would pull it away from a goal it is closing in on)
        radius = max(bare, min(reach, float(np.linalg.norm(tool - centre))) / RING_SLACK)
        balls[first] = (centre, radius)
        if not _blocked(tool, goal, balls):
            return goal
    ring = _ring(tool, goal, centre, radius)
    visible = [p for p in ring if not _blocked(tool, p, balls)]
    return visible[-1] if visible else ring[np.argmin(np.linalg.norm(ring - tool, axis=1))]
