"""Torch forward kinematics (built from the MjModel) against mujoco's own mj_kinematics."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest
import torch

from jepa_mpc.planner.config import DEFAULT_CHECK_POINTS, CheckPoint, GuardrailConfig
from jepa_mpc.planner.kinematics import ArmKinematics
from jepa_mpc.sim.panda_scene import arm_limits


def _random_q(mj_model, n: int, seed: int, spread: float = 0.3) -> np.ndarray:
    """Joint vectors inside and somewhat beyond the MJCF limits (FK must not care about limits)."""
    limits = arm_limits(mj_model)
    rng = np.random.default_rng(seed)
    return rng.uniform(limits.lower - spread, limits.upper + spread, size=(n, 7))


@pytest.mark.parametrize(("dtype", "tol"), [(torch.float64, 1e-9), (torch.float32, 1e-5)])
def test_fk_matches_mj_kinematics(mj_model, truth, dtype, tol):
    kin = ArmKinematics(mj_model, DEFAULT_CHECK_POINTS, dtype=dtype)
    q = _random_q(mj_model, 64, seed=1)
    ours = kin.forward(torch.as_tensor(q, dtype=dtype)).double().numpy()  # [64, P, 3]
    g = GuardrailConfig()
    expected = np.stack([truth.points(g, qi) for qi in q])
    assert ours.shape == expected.shape == (64, len(DEFAULT_CHECK_POINTS), 3)
    assert np.abs(ours - expected).max() < tol


def test_ee_point_is_the_mjcf_site(mj_model):
    kin = ArmKinematics(mj_model, DEFAULT_CHECK_POINTS, dtype=torch.float64)
    data = mujoco.MjData(mj_model)
    q = _random_q(mj_model, 1, seed=2)[0]
    data.qpos[:7] = q  # the arm joints come first in this scene
    mujoco.mj_kinematics(mj_model, data)
    ee = kin.forward(torch.as_tensor(q))[kin.index("ee")].numpy()
    np.testing.assert_allclose(ee, data.site_xpos[mj_model.site("end_effector").id], atol=1e-9)


def test_fk_keeps_batch_shape_and_is_differentiable(mj_model):
    kin = ArmKinematics(mj_model, DEFAULT_CHECK_POINTS, dtype=torch.float64)
    q = torch.as_tensor(_random_q(mj_model, 6, seed=3)).reshape(2, 3, 7).requires_grad_(True)
    assert kin.forward(q).shape == (2, 3, len(DEFAULT_CHECK_POINTS), 3)
    assert torch.autograd.gradcheck(
        lambda x: kin.forward(x), (q[:1, :1].detach().clone().requires_grad_(True),)
    )


def test_fk_gradient_matches_mujoco_jacobian(mj_model):
    kin = ArmKinematics(mj_model, DEFAULT_CHECK_POINTS, dtype=torch.float64)
    q = _random_q(mj_model, 1, seed=4, spread=0.0)[0]
    jac = torch.autograd.functional.jacobian(
        lambda x: kin.forward(x)[kin.index("ee")], torch.as_tensor(q)
    )
    data = mujoco.MjData(mj_model)
    data.qpos[:7] = q
    mujoco.mj_kinematics(mj_model, data)
    mujoco.mj_comPos(mj_model, data)
    jacp = np.zeros((3, mj_model.nv))
    mujoco.mj_jacSite(mj_model, data, jacp, None, mj_model.site("end_effector").id)
    np.testing.assert_allclose(jac.numpy(), jacp[:, :7], atol=1e-8)


def test_unknown_frame_and_off_chain_points_raise(mj_model):
    with pytest.raises(ValueError, match="no site or body"):
        ArmKinematics(mj_model, [CheckPoint("x", "no_such_frame")])
    with pytest.raises(ValueError, match="off the serial chain"):
        ArmKinematics(mj_model, [CheckPoint("ee", "end_effector"), CheckPoint("cube", "cube")])
    with pytest.raises(KeyError, match="valid"):
        ArmKinematics(mj_model, DEFAULT_CHECK_POINTS).index("toe")


def test_joint_limits_come_from_the_model(mj_model):
    kin = ArmKinematics(mj_model, DEFAULT_CHECK_POINTS, dtype=torch.float64)
    limits = arm_limits(mj_model)
    np.testing.assert_array_equal(kin.lower.numpy(), limits.lower)
    np.testing.assert_array_equal(kin.upper.numpy(), limits.upper)
