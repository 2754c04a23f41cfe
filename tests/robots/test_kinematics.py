"""Torch forward kinematics (`Robot.kinematics`) against MuJoCo's mj_kinematics of the Robot's own model, for every
check point of every arm, at random configurations within the limits; also with a base pose and a tool offset.

The reference (tests/robots/reference.py) reads positions from MjData (xpos/xmat, site_xpos/site_xmat) and
shares no code with robots/kinematics.py.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from jepa_mpc.robots import TOOL_POINT, CheckPoint

from .conftest import ALL_ARMS, ARMS, BASE_POS, BASE_RPY, IIWA, PANDA, TOOL_OFFSET, XARM6, posed_arm
from .reference import frame_pose, mujoco_points, random_arm_q, sphere_coverage

TOL_M = 1e-5


def _fk_error(robot, q: np.ndarray) -> np.ndarray:
    """|torch FK - MuJoCo| per configuration and check point [N, P] (float64)."""
    kin = robot.kinematics(dtype=torch.float64)
    assert kin.point_names == tuple(p.name for p in robot.check_points)
    got = kin.forward(torch.as_tensor(q)).numpy()
    want = mujoco_points(robot, robot.check_points, q)
    assert got.shape == want.shape == (len(q), len(robot.check_points), 3)
    return np.linalg.norm(got - want, axis=-1)


def _assert_small(robot, err: np.ndarray) -> None:
    worst = np.unravel_index(np.argmax(err), err.shape)
    assert err.max() < TOL_M, (f"{robot.name}: FK of {robot.check_points[worst[1]].name!r} is "
                               f"{err.max() * 1000:.4f} mm off MuJoCo (configuration {worst[0]})")


@pytest.mark.parametrize("arm", ALL_ARMS, indirect=True)
def test_fk_matches_mujoco(arm):
    q = random_arm_q(arm, 200 if arm.cfg.description in ARMS else 50, np.random.default_rng(0))
    _assert_small(arm, _fk_error(arm, q))


@pytest.mark.parametrize("arm", ARMS, indirect=True)
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_fk_matches_mujoco_at_the_limits(arm, data):
    """Configurations with joints at their limits (and in between), where sign or wrap errors show."""
    frac = np.array(data.draw(st.lists(st.sampled_from([0.0, 1.0, 0.5, 0.25]) | st.floats(0.0, 1.0),
                                       min_size=arm.dof, max_size=arm.dof)))
    q = (arm.lower + frac * (arm.upper - arm.lower))[None]
    _assert_small(arm, _fk_error(arm, q))


@pytest.mark.parametrize("name", [PANDA, XARM6, IIWA])  # the embedded MJCF, a URDF, a robosuite MJCF
def test_fk_with_base_pose_and_tool_offset(name):
    plain, posed = posed_arm(name)
    rng = np.random.default_rng(1)
    q = random_arm_q(posed, 200, rng)
    _assert_small(posed, _fk_error(posed, q))

    # The base pose is a rigid motion of the whole arm: fixed-axis roll, pitch, yaw (scipy's extrinsic "xyz"),
    # then the translation; compared on the plain arm's check points, both sides by MuJoCo.
    rot = Rotation.from_euler("xyz", BASE_RPY).as_matrix()
    points = plain.check_points[1:]
    moved = mujoco_points(posed, points, q[:20])
    expected = mujoco_points(plain, points, q[:20]) @ rot.T + np.asarray(BASE_POS)
    assert np.abs(moved - expected).max() < 1e-9

    # The tool point is the tool frame's origin plus the offset in that frame.
    kin = posed.kinematics(dtype=torch.float64)
    tool = kin.forward(torch.as_tensor(q[:20]))[:, kin.index(TOOL_POINT)].numpy()
    frame = mujoco_points(posed, [CheckPoint("origin", posed.tool.frame)], q[:20])[:, 0]
    rotations = []
    for qi in q[:20]:
        pos, mat = posed.tool_pose(qi)
        rotations.append(mat)
        assert np.allclose(pos, frame_pose(posed.model, posed.data(qi), posed.tool.frame)[0] + mat @ TOOL_OFFSET,
                           atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(tool - frame, axis=1), np.linalg.norm(TOOL_OFFSET), atol=1e-9)
    np.testing.assert_allclose(tool, frame + np.einsum("nij,j->ni", np.array(rotations), TOOL_OFFSET), atol=TOL_M)
    np.testing.assert_allclose(np.array([posed.tool_position(qi) for qi in q[:20]]), tool, atol=TOL_M)

    # The model stands at the base pose, the first arm joint anchor moved with it, and the check spheres still
    # cover the collision geometry.
    assert np.allclose(posed.shoulder, rot @ plain.shoulder + np.asarray(BASE_POS), atol=1e-9)
    coverage = sphere_coverage(posed, posed.spheres, configs=4)
    assert coverage.uncovered == 0, coverage.worst()


@pytest.mark.parametrize("arm", [PANDA, XARM6], indirect=True)
def test_fk_batch_shapes_float32_and_gradient(arm):
    q = torch.as_tensor(random_arm_q(arm, 10, np.random.default_rng(2)).reshape(2, 5, arm.dof))
    kin64 = arm.kinematics(dtype=torch.float64)
    out = kin64.forward(q)
    assert out.shape == (2, 5, len(arm.check_points), 3)
    flat = kin64.forward(q.reshape(10, arm.dof)).reshape(2, 5, -1, 3)
    assert torch.equal(out, flat)
    single = kin64.forward(q[1, 3])
    assert single.shape == (len(arm.check_points), 3) and torch.allclose(single, out[1, 3])
    out32 = arm.kinematics().forward(q.float())
    assert out32.dtype == torch.float32 and (out32.double() - out).abs().max() < 1e-4

    # Differentiable in q: autograd's Jacobian of the tool point equals central differences.
    q0 = q[0, 0].clone().requires_grad_(True)
    jac = torch.autograd.functional.jacobian(lambda x: kin64.forward(x)[0], q0)
    eps = 1e-6
    fd = torch.stack([(kin64.forward(q0.detach() + eps * e)[0] - kin64.forward(q0.detach() - eps * e)[0]) / (2 * eps)
                      for e in torch.eye(arm.dof, dtype=torch.float64)], dim=1)
    assert torch.allclose(jac, fd, atol=1e-6)
