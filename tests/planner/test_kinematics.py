"""Torch forward kinematics (robots/kinematics.py, built from the Robot's MjModel) against MuJoCo's own
mj_kinematics and Jacobians, for every arm the planner is tested on."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest
import torch

from jepa_mpc.robots import CheckPoint, RobotDescriptionError
from jepa_mpc.robots.kinematics import ArmKinematics

from .conftest import ARMS, truth_for


def _random_q(robot, n: int, seed: int, spread: float = 0.3) -> np.ndarray:
    """Joint vectors inside and somewhat beyond the description's limits (FK must not care about limits)."""
    rng = np.random.default_rng(seed)
    return rng.uniform(robot.lower - spread, robot.upper + spread, size=(n, robot.dof))


def _mj_data(robot, q: np.ndarray) -> mujoco.MjData:
    data = mujoco.MjData(robot.model)
    for name, value in zip(robot.model_joint_names, q, strict=True):
        data.qpos[robot.model.joint(name).qposadr[0]] = value
    mujoco.mj_kinematics(robot.model, data)
    mujoco.mj_comPos(robot.model, data)
    return data


@ARMS
@pytest.mark.parametrize(("dtype", "tol"), [(torch.float64, 1e-9), (torch.float32, 1e-5)])
def test_fk_matches_mj_kinematics(robot, dtype, tol):
    kin = robot.kinematics(dtype=dtype)  # the tool point, then every check sphere
    q = _random_q(robot, 64, seed=1)
    ours = kin.forward(torch.as_tensor(q, dtype=dtype)).double().numpy()  # [64, P, 3]
    truth = truth_for(robot)
    expected = np.stack([truth.points(qi) for qi in q])
    assert ours.shape == expected.shape == (64, len(robot.check_points), 3)
    assert np.abs(ours - expected).max() < tol


@ARMS
def test_tool_point_is_the_tool_frame(robot):
    kin = robot.kinematics(dtype=torch.float64)
    q = _random_q(robot, 1, seed=2)[0]
    data = _mj_data(robot, q)
    m, frame = robot.model, robot.tool.frame
    site = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_SITE, frame)
    pos, mat = (data.site_xpos[site], data.site_xmat[site]) if site >= 0 else (
        data.xpos[m.body(frame).id], data.xmat[m.body(frame).id])
    expected = pos + mat.reshape(3, 3) @ np.asarray(robot.tool.offset)
    ee = kin.forward(torch.as_tensor(q))[kin.index("ee")].numpy()
    np.testing.assert_allclose(ee, expected, atol=1e-9)


@ARMS
def test_fk_keeps_batch_shape_and_is_differentiable(robot):
    kin = robot.kinematics(dtype=torch.float64)
    j, p = robot.dof, len(robot.check_points)
    q = torch.as_tensor(_random_q(robot, 6, seed=3)).reshape(2, 3, j)
    assert kin.forward(q).shape == (2, 3, p, 3)
    assert torch.autograd.gradcheck(lambda x: kin.forward(x), (q[:1, :1].clone().requires_grad_(True),))


@ARMS
def test_fk_gradient_matches_mujoco_jacobian(robot):
    """d(point)/dq of every check point equals MuJoCo's translational Jacobian at that point."""
    kin = robot.kinematics(dtype=torch.float64)
    q = _random_q(robot, 1, seed=4, spread=0.0)[0]
    jac = torch.autograd.functional.jacobian(lambda x: kin.forward(x), torch.as_tensor(q)).numpy()  # [P, 3, J]
    m = robot.model
    data = _mj_data(robot, q)
    columns = [m.joint(n).dofadr[0] for n in robot.model_joint_names]
    pts = truth_for(robot).points(q)
    for i, p in enumerate(robot.check_points):
        site = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_SITE, p.frame)
        body = int(m.site_bodyid[site]) if site >= 0 else m.body(p.frame).id
        jacp = np.zeros((3, m.nv))
        mujoco.mj_jac(m, data, jacp, None, pts[i], body)
        np.testing.assert_allclose(jac[i], jacp[:, columns], atol=1e-8, err_msg=p.name)


def test_unknown_frame_and_off_arm_points_raise(panda):
    with pytest.raises(RobotDescriptionError, match="no site or body"):
        panda.kinematics([CheckPoint("x", "no_such_frame")])
    with pytest.raises(RobotDescriptionError, match="not an arm joint"):  # a finger moves it
        panda.kinematics([CheckPoint("ee", "end_effector"), CheckPoint("finger", "panda0_leftfinger")])
    with pytest.raises(KeyError, match="valid"):
        panda.kinematics().index("toe")


def test_unknown_joint_raises(panda):
    with pytest.raises(RobotDescriptionError, match="no joint"):
        ArmKinematics(panda.model, panda.check_points, ("no_such_joint",))


@ARMS
def test_joint_limits_come_from_the_model(robot):
    kin = robot.kinematics(dtype=torch.float64)
    ranges = np.array([robot.model.joint(n).range for n in robot.model_joint_names])
    np.testing.assert_array_equal(kin.lower.numpy(), ranges[:, 0])
    np.testing.assert_array_equal(kin.upper.numpy(), ranges[:, 1])
