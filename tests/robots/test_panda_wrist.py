"""The Panda's joint-6 offset: the embedded MJCF builds link 6 turned by 90 degrees, so its joint 6 reads Franka's
(the driver's) minus pi/2. With the preset's joint_offsets, the embedded Panda and pybullet's Franka URDF (Franka's
own convention) put the flange at the same pose for the same driver joint values; without them they do not.

Tolerances: the MJCF writes pi/2 as 1.57 (0.8 mrad short), so the two models differ by up to ~2 mrad and ~0.2 mm.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from .conftest import PANDA, PANDA_URDF, load_arm

POSITION_TOL_M = 5e-4
ROTATION_TOL_RAD = 3e-3


@pytest.fixture(scope="module")
def pair():
    """(embedded Panda, Franka URDF), both with the tool at Franka's flange (panda_link8)."""
    urdf_home = tuple(load_arm(PANDA_URDF).home)  # given, so no home IK runs for the flange tool frame
    return load_arm(PANDA, tool_frame="flange"), load_arm(PANDA_URDF, tool_frame="panda_link8", home=urdf_home)


def _driver_box(a, b) -> tuple[np.ndarray, np.ndarray]:
    """Driver-convention joint ranges inside both arms' limits."""
    lower = np.maximum(a.to_driver(a.lower), b.to_driver(b.lower))
    upper = np.minimum(a.to_driver(a.upper), b.to_driver(b.upper))
    assert np.all(upper - lower > 0.5)
    return lower, upper


def _pose_gap(a, b, q_driver: np.ndarray) -> tuple[float, float]:
    """Flange position distance (m) and rotation angle (rad) between the two arms at driver values q."""
    pa, ra = a.tool_pose(a.from_driver(q_driver))
    pb, rb = b.tool_pose(b.from_driver(q_driver))
    cos = np.clip((np.trace(ra.T @ rb) - 1) / 2, -1.0, 1.0)
    return float(np.linalg.norm(pa - pb)), float(np.arccos(cos))


def test_driver_conventions(pair):
    a, b = pair
    assert a.joint_names == b.joint_names == tuple(f"panda_joint{i}" for i in range(1, 8))
    np.testing.assert_allclose(a.joint_offsets, [0, 0, 0, 0, 0, np.pi / 2, 0])
    assert not np.any(b.joint_offsets)
    assert a.tool.frame == "flange" and b.tool.frame == "panda_link8"


def test_same_flange_pose_for_the_same_driver_joints(pair):
    a, b = pair
    lower, upper = _driver_box(a, b)
    gaps = np.array([_pose_gap(a, b, q) for q in np.random.default_rng(3).uniform(lower, upper, (200, 7))])
    assert gaps[:, 0].max() < POSITION_TOL_M, f"flange {gaps[:, 0].max() * 1000:.2f} mm apart"
    assert gaps[:, 1].max() < ROTATION_TOL_RAD, f"flange turned {gaps[:, 1].max() * 1000:.2f} mrad"


@settings(max_examples=30, deadline=None)
@given(frac=st.lists(st.floats(0.0, 1.0), min_size=7, max_size=7))
def test_same_flange_pose_anywhere_in_the_common_range(pair, frac):
    """Joint limits included (hypothesis tries the box's corners)."""
    a, b = pair
    lower, upper = _driver_box(a, b)
    position, rotation = _pose_gap(a, b, lower + np.array(frac) * (upper - lower))
    assert position < POSITION_TOL_M and rotation < ROTATION_TOL_RAD


def test_without_the_offset_they_disagree_by_centimetres(pair):
    a, b = pair
    plain = load_arm(PANDA, tool_frame="flange", joint_offsets=(0.0,) * 7)
    assert not np.any(plain.joint_offsets)
    lower, upper = _driver_box(a, b)
    q = np.random.default_rng(4).uniform(lower, upper, (50, 7))
    apart = np.array([_pose_gap(plain, b, qi)[0] for qi in q])
    assert apart.min() > 0.02, f"only {apart.min() * 100:.1f} cm apart"
    assert np.median(apart) > 0.05


@settings(max_examples=30, deadline=None)
@given(q=st.lists(st.floats(-4.0, 4.0), min_size=7, max_size=7))
def test_to_driver_and_from_driver_are_inverse(pair, q):
    a, _ = pair
    q = np.array(q)
    np.testing.assert_allclose(a.from_driver(a.to_driver(q)), q, atol=1e-12)
    np.testing.assert_allclose(a.to_driver(q) - q, a.joint_offsets, atol=1e-12)
    batch = np.stack([q, q + 0.1])
    assert a.to_driver(batch).shape == (2, 7)


def test_the_flange_is_0107_m_beyond_joint_7(pair):
    """Franka's flange sits 0.107 m along link 7's axis, at every configuration."""
    a, b = pair
    for robot, link7 in ((a, "panda0_link7"), (b, "panda_link7")):
        for q in np.random.default_rng(5).uniform(robot.lower, robot.upper, (10, 7)):
            data = robot.data(q)
            body = robot.model.body(link7).id
            flange, _ = robot.tool_pose(q)
            offset = data.xmat[body].reshape(3, 3).T @ (flange - data.xpos[body])
            np.testing.assert_allclose(offset, [0, 0, 0.107], atol=1e-9)
