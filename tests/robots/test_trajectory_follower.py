"""The JTC-style follower interpolates from the current target through each point, then holds the last."""
from __future__ import annotations

import numpy as np
import pytest

from jepa_mpc.robots.trajectory_follower import TrajectoryFollower


def test_interpolates_and_holds():
    f = TrajectoryFollower(np.zeros(2))
    f.set_trajectory(np.array([[1.0, 2.0], [3.0, 2.0]]), np.array([1.0, 2.0]), start_s=10.0, now_s=10.0)
    np.testing.assert_allclose(f.target_at(10.0), [0, 0])
    np.testing.assert_allclose(f.target_at(10.5), [0.5, 1.0])
    np.testing.assert_allclose(f.target_at(11.0), [1, 2])
    np.testing.assert_allclose(f.target_at(11.5), [2, 2])
    np.testing.assert_allclose(f.target_at(50.0), [3, 2])


def test_new_trajectory_starts_from_current_target():
    f = TrajectoryFollower(np.zeros(1))
    f.set_trajectory(np.array([[2.0]]), np.array([2.0]), start_s=0.0, now_s=0.0)
    f.set_trajectory(np.array([[0.0]]), np.array([1.0]), start_s=1.0, now_s=1.0)  # preempt at 1.0 s (target 1.0)
    np.testing.assert_allclose(f.target_at(1.5), [0.5])


@pytest.mark.parametrize("positions, times", [
    (np.zeros((2, 1)), np.array([1.0, 1.0])),  # not increasing
    (np.array([[np.nan]]), np.array([1.0])),
    (np.zeros((1, 3)), np.array([1.0])),  # wrong joint count
])
def test_rejects_bad_trajectories_and_keeps_old(positions, times):
    f = TrajectoryFollower(np.array([0.7]))
    with pytest.raises(ValueError):
        f.set_trajectory(positions, times, 0.0, 0.0)
    np.testing.assert_allclose(f.target_at(5.0), [0.7])
