"""`jepa-mpc eval --keep-out-on-path` and `--keep-out`: the obstacle sits on the straight path, never on the start or
the goal, reaches the planner and the filter, and the MPC drives around it without a violation."""
from __future__ import annotations

import json

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from jepa_mpc.apps.path_zone import MIN_RADIUS_M, path_zone

_xyz = st.lists(st.floats(-1.0, 1.0), min_size=3, max_size=3).map(np.array)


@settings(max_examples=200, deadline=None)
@given(start=_xyz, goal=_xyz, points=st.lists(_xyz, min_size=2, max_size=8), radius=st.floats(0.0, 0.5),
       sphere=st.floats(0.0, 0.1))
def test_the_zone_is_halfway_and_leaves_start_and_goal_clear(start, goal, points, radius, sphere):
    half = len(points) // 2 or 1
    start_pts, goal_pts = np.array(points[:half]), np.array(points[-half:])
    radii = np.full(half, sphere)
    zone = path_zone(start, goal, start_pts, goal_pts, radii, radius, margin_m=0.01)
    if zone is None:
        return
    centre = np.asarray(zone.center)
    t = np.dot(centre - start, goal - start) / max(np.dot(goal - start, goal - start), 1e-300)
    np.testing.assert_allclose(centre, start + t * (goal - start), atol=1e-9)  # on the straight path
    assert 0.2 - 1e-9 <= t <= 0.8 + 1e-9
    assert MIN_RADIUS_M <= zone.radius <= radius
    for pts in (start_pts, goal_pts):
        assert np.all(np.linalg.norm(pts - centre, axis=1) - radii >= zone.radius + 0.01 - 1e-9)
    for end in (start, goal):
        assert np.linalg.norm(end - centre) >= zone.radius + 0.01 - 1e-9


def test_a_zone_with_no_room_is_not_placed():
    start, goal = np.zeros(3), np.array([0.01, 0, 0])
    assert path_zone(start, goal, start[None], goal[None], np.zeros(1), 0.05) is None


def test_fk_mpc_goes_around_the_zone_on_its_path_without_a_violation(tmp_path):
    from jepa_mpc.apps.cli import main

    out = tmp_path / "eval"
    code = main(["eval", "--policies", "fk-mpc", "--goal", "pose", "--episodes", "2", "--seed", "3",
                 "--max-steps", "12", "--workers", "1", "--samples", "64", "--keep-out-on-path", "0.05",
                 "--keep-out", "box:-0.9,-0.9,1.0,-0.8,-0.8,1.1", "--out", str(out)])
    report = json.loads((out / "eval.json").read_text())
    summary = report["summary"]["fk-mpc"]
    assert code == 0 and summary["violations"] == 0
    assert summary["path_zones"] == 2  # both episodes had an obstacle on their path
    assert report["settings"]["keep_out"] == [{"lo": [-0.9, -0.9, 1.0], "hi": [-0.8, -0.8, 1.1]}]
