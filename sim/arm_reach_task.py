"""The reach task for any arm in the arm cell (sim/arm_cell.py): how episodes start, how goals are sampled, and
what success means.

Workspace box. In the base frame (origin at the base, axes: forward = the base's +x projected on the horizontal,
left, up) and in units of the arm's reach r (`robot.reach_m`, measured from the shoulder), the box is

    forward in [0.32 r, 0.79 r],  left in [-0.37 r, 0.37 r],  up in [0.085 r, 0.525 r] above the table top,

which for the embedded Panda (r = 0.95 m) is the Panda scene's x in [0.30, 0.75], y in [-0.35, 0.35],
z in [0.08, 0.50] (sim/tasks.py). `Workspace.sample` draws a uniform point in it (exploration targets).

Episodes. The start is HOME + U(-0.1, 0.1) rad on every arm joint but the last (the tool roll; clipped to the
limits). The goal arm configuration is HOME + U(-0.5, 0.5) rad on every joint but the last (clipped), kept only if
its tool point lies in the workspace box, every table-checked check sphere of the Robot clears the table top by at
least `table_clearance_m` (0.02 m; the start is held to the same), and the tool point is at least 2 x
`tolerance_m` from the start's (no episode begins solved). Success: the tool point within `tolerance_m`
(0.05 m) of the goal position. The goal image shows the arm at the goal configuration.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from jepa_mpc.tasks import ARM_REACH

BOX_FORWARD = (0.32, 0.79)
BOX_LEFT = (-0.37, 0.37)
BOX_UP = (0.085, 0.525)
"""Workspace box in units of the reach, base frame (see the module docstring)."""


@dataclasses.dataclass(frozen=True)
class Workspace:
    """An axis-aligned box in the base frame (forward, left, up), placed in the world."""

    origin: np.ndarray
    """World position of the base frame's origin: the base position (on the table top)."""
    forward: np.ndarray
    left: np.ndarray
    low: np.ndarray
    """[3] lower corner (forward, left, up) in metres."""
    high: np.ndarray

    @classmethod
    def for_reach(cls, origin: np.ndarray, forward: np.ndarray, left: np.ndarray, reach_m: float) -> Workspace:
        """The task's box for an arm of reach `reach_m` standing at `origin` facing `forward`."""
        low = reach_m * np.array([BOX_FORWARD[0], BOX_LEFT[0], BOX_UP[0]])
        high = reach_m * np.array([BOX_FORWARD[1], BOX_LEFT[1], BOX_UP[1]])
        return cls(np.asarray(origin, dtype=np.float64), np.asarray(forward, dtype=np.float64),
                   np.asarray(left, dtype=np.float64), low, high)

    def to_local(self, point: np.ndarray) -> np.ndarray:
        """World point(s) [..., 3] -> base-frame (forward, left, up) coordinates."""
        rel = np.asarray(point, dtype=np.float64) - self.origin
        return np.stack([rel @ self.forward, rel @ self.left, rel[..., 2]], axis=-1)

    def to_world(self, local: np.ndarray) -> np.ndarray:
        local = np.asarray(local, dtype=np.float64)
        return (self.origin + local[..., :1] * self.forward + local[..., 1:2] * self.left
                + local[..., 2:3] * np.array([0.0, 0.0, 1.0]))

    def contains(self, point: np.ndarray, margin: float = 0.0) -> bool:
        """Whether a world point lies in the box (grown by `margin` metres)."""
        local = self.to_local(point)
        return bool(np.all(local >= self.low - margin) and np.all(local <= self.high + margin))

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        """A uniform random world point in the box."""
        return self.to_world(rng.uniform(self.low, self.high))

    @property
    def corners(self) -> np.ndarray:
        """[8, 3] world corners (for drawing, or a guardrail box when the base is not turned)."""
        grid = np.array(np.meshgrid(*zip(self.low, self.high, strict=True), indexing="ij")).reshape(3, -1).T
        return self.to_world(grid)


@dataclasses.dataclass
class ArmEpisodeSetup:
    """What the task decides at reset."""

    arm_qpos: np.ndarray
    """[J] start joint positions."""
    goal_pos: np.ndarray
    """[3] goal tool-point position (world)."""
    goal_arm_qpos: np.ndarray
    """[J] the goal configuration (shown in the goal image)."""


class ArmReachTask:
    """Move the tool point to a goal position sampled from reachable arm configurations (module docstring)."""

    name = "reach"

    def __init__(self, tolerance_m: float = ARM_REACH.tolerance_m, joint_range_rad: float = 0.5,
                 start_noise_rad: float = 0.1, table_clearance_m: float = 0.02, max_tries: int = 500) -> None:
        if not tolerance_m > 0 or not joint_range_rad > 0 or not start_noise_rad >= 0 or not table_clearance_m >= 0:
            raise ValueError("tolerance_m and joint_range_rad must be > 0, start_noise_rad and table_clearance_m "
                             f">= 0; got {tolerance_m}, {joint_range_rad}, {start_noise_rad}, {table_clearance_m}")
        if int(max_tries) < 1:
            raise ValueError(f"max_tries must be >= 1, got {max_tries!r}")
        self.tolerance_m = float(tolerance_m)
        self.joint_range_rad = float(joint_range_rad)
        self.start_noise_rad = float(start_noise_rad)
        self.table_clearance_m = float(table_clearance_m)
        self.max_tries = int(max_tries)

    def sample(self, rng: np.random.Generator, home: np.ndarray, limits: tuple[np.ndarray, np.ndarray],
               tool_fk: Callable[[np.ndarray], np.ndarray], clearance: Callable[[np.ndarray], float],
               workspace: Workspace) -> ArmEpisodeSetup:
        """Sample a start and a goal. `tool_fk(q) -> [3]` is the tool point and `clearance(q) -> metres` the
        smallest gap between a table-checked check sphere and the table top, both from the simulator."""
        lower, upper = limits
        home = np.asarray(home, dtype=np.float64)
        mask = np.r_[np.ones(len(home) - 1), 0.0]  # every joint but the last
        start = home.copy()
        for _ in range(self.max_tries):
            q = np.clip(home + rng.uniform(-1, 1, len(home)) * self.start_noise_rad * mask, lower, upper)
            if clearance(q) >= self.table_clearance_m:
                start = q
                break
        start_tool = tool_fk(start)

        def valid(q: np.ndarray) -> np.ndarray | None:
            tool = tool_fk(q)
            if (workspace.contains(tool) and np.linalg.norm(tool - start_tool) >= 2 * self.tolerance_m
                    and clearance(q) >= self.table_clearance_m):
                return tool
            return None

        for _ in range(self.max_tries):
            goal_q = np.clip(home + rng.uniform(-1, 1, len(home)) * self.joint_range_rad * mask, lower, upper)
            tool = valid(goal_q)
            if tool is not None:
                return ArmEpisodeSetup(start, tool, goal_q)
        tool = valid(home)
        if tool is not None:
            return ArmEpisodeSetup(start, tool, home.copy())
        raise RuntimeError(f"no reach goal found in {self.max_tries} tries: the arm's home pose (tool at "
                           f"{np.round(tool_fk(home), 3).tolist()}) is too far from the workspace box "
                           f"{np.round(workspace.low, 3).tolist()}..{np.round(workspace.high, 3).tolist()} (base frame)"
                           "; give the Robot a home with the tool in front of the base above the table")

    def distance(self, tool_pos: np.ndarray, goal_pos: np.ndarray) -> float:
        """Metres between the tool point and the goal."""
        return float(np.linalg.norm(np.asarray(tool_pos) - np.asarray(goal_pos)))


__all__ = ["ArmEpisodeSetup", "ArmReachTask", "Workspace"]
