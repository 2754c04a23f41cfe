"""Joint-trajectory following with ros2_control JointTrajectoryController semantics, as pure logic.

A new trajectory replaces the old one; it starts at its stamp (or on receipt if the stamp is zero); the target
moves linearly from the position held at the start to each point in turn, reaching point i at its
time_from_start; after the last point the target holds it. The ROS sim bridge uses this so the simulated arm
moves exactly as a real arm behind a JTC would.
"""
from __future__ import annotations

import numpy as np


class TrajectoryFollower:
    """Interpolated joint targets over time for the latest accepted trajectory."""

    def __init__(self, initial: np.ndarray) -> None:
        self._hold = np.asarray(initial, dtype=np.float64).copy()
        self._points: np.ndarray | None = None  # [N+1, J], row 0 = position at start
        self._times: np.ndarray | None = None  # [N+1] absolute seconds

    def hold(self, position: np.ndarray) -> None:
        """Drop any trajectory and hold `position`."""
        self._hold = np.asarray(position, dtype=np.float64).copy()
        self._points = self._times = None

    def set_trajectory(self, positions: np.ndarray, times_from_start: np.ndarray, start_s: float,
                       now_s: float) -> None:
        """Follow `positions` [N, J] reached at `start_s + times_from_start` [N], starting from the current target."""
        positions = np.atleast_2d(np.asarray(positions, dtype=np.float64))
        times = np.asarray(times_from_start, dtype=np.float64)
        if positions.shape[0] != times.shape[0] or positions.shape[1] != self._hold.shape[0]:
            raise ValueError(f"trajectory of shape {positions.shape} with {times.shape[0]} times does not fit "
                             f"{self._hold.shape[0]} joints")
        if not (np.all(np.isfinite(positions)) and np.all(np.isfinite(times))) or np.any(np.diff(times) <= 0):
            raise ValueError("trajectory times must be finite and strictly increasing, positions finite")
        current = self.target_at(now_s)
        self._points = np.vstack([current, positions])
        self._times = np.r_[min(start_s, now_s), start_s + times]
        self._hold = positions[-1].copy()

    def target_at(self, t: float) -> np.ndarray:
        """The commanded joint position at time `t` (seconds, same clock as start_s)."""
        if self._points is None:
            return self._hold.copy()
        if t >= self._times[-1]:
            return self._points[-1].copy()
        if t <= self._times[0]:
            return self._points[0].copy()
        i = int(np.searchsorted(self._times, t, side="right"))
        w = (t - self._times[i - 1]) / (self._times[i] - self._times[i - 1])
        return self._points[i - 1] + w * (self._points[i] - self._points[i - 1])  # exact while standing still
