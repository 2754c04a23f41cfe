"""Damped-least-squares inverse kinematics of a Robot's tool point on its MuJoCo model (numpy + mujoco, no torch).

Used by exploration, scripted policies and the sim's `reach_action`. Positions only: the tool point (the Robot's
`tool` check point: a site or body origin plus `offset`) is moved to a world-frame target; the tool's orientation
is free. Joint vectors are in the model convention and the Robot's arm-joint order. Non-arm joints (fingers) sit
at their reference positions (qpos0), as in `Robot.data` and the torch kinematics.

- `tool_jacobian(robot, data)`: positional Jacobian [3, J] of the tool point at the state held by `data`
  (an MjData of `robot.model`, or of any model that contains the robot's bodies and joints under the same
  names, such as the sim cell's scene).
- `dls_step(robot, q, target)`: one DLS step dq = J^T (J J^T + damping^2 I)^-1 e, with the position error e
  shortened to at most `max_err` metres (direction kept).
- `solve_position(robot, target, q0)`: iterated DLS steps clamped to the joint limits.
"""
from __future__ import annotations

import mujoco
import numpy as np


def _frame(model: mujoco.MjModel, name: str) -> tuple[int, int]:
    """(site id or -1, body id) of a check point frame: a site is tried first, then a body."""
    site = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, name)
    if site >= 0:
        return site, int(model.site_bodyid[site])
    body = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, name)
    if body < 0:
        raise KeyError(f"the model has no site or body named {name!r}")
    return -1, body


def tool_point(robot, data: mujoco.MjData) -> np.ndarray:
    """World position [3] of the tool point in `data` (kinematics must be current)."""
    site, body = _frame(data.model, robot.tool.frame)
    pos, mat = (data.site_xpos[site], data.site_xmat[site]) if site >= 0 else (data.xpos[body], data.xmat[body])
    return pos + mat.reshape(3, 3) @ np.asarray(robot.tool.offset, dtype=np.float64)


def _dof_adr(robot, model: mujoco.MjModel) -> np.ndarray:
    if model is robot.model:
        return robot.dof_adr
    return np.array([model.joint(name).dofadr[0] for name in robot.model_joint_names])


def _qpos_adr(robot, model: mujoco.MjModel) -> np.ndarray:
    if model is robot.model:
        return robot.qpos_adr
    return np.array([model.joint(name).qposadr[0] for name in robot.model_joint_names])


def tool_jacobian(robot, data: mujoco.MjData) -> np.ndarray:
    """Positional Jacobian [3, J] of the tool point w.r.t. the arm joints at the state in `data` (mj_jac at the
    tool point). Needs current kinematics and com positions (mj_forward, mj_step, or mj_kinematics + mj_comPos)."""
    model = data.model
    _, body = _frame(model, robot.tool.frame)
    jacp = np.zeros((3, model.nv))
    mujoco.mj_jac(model, data, jacp, None, tool_point(robot, data), body)
    return jacp[:, _dof_adr(robot, model)]


def _robot_data(robot, q: np.ndarray) -> mujoco.MjData:
    data = mujoco.MjData(robot.model)
    data.qpos[robot.qpos_adr] = q
    mujoco.mj_kinematics(robot.model, data)
    mujoco.mj_comPos(robot.model, data)
    return data


def _dls(jac: np.ndarray, err: np.ndarray, damping: float) -> np.ndarray:
    return jac.T @ np.linalg.solve(jac @ jac.T + damping**2 * np.eye(3), err)


def _clip_norm(err: np.ndarray, max_err: float) -> np.ndarray:
    norm = float(np.linalg.norm(err))
    return err * (max_err / norm) if norm > max_err else err


def dls_step(robot, q: np.ndarray, target: np.ndarray, damping: float = 0.05, max_err: float = 0.1) -> np.ndarray:
    """Joint change dq [J] moving the tool point from its position at q [J] towards `target` [3] (world):
    damped least squares on the error shortened to at most `max_err` metres. Not clamped to the limits."""
    q = np.asarray(q, dtype=np.float64)
    if q.shape != (robot.dof,):
        raise ValueError(f"q must have shape ({robot.dof},), got {q.shape}")
    data = _robot_data(robot, q)
    err = _clip_norm(np.asarray(target, dtype=np.float64) - tool_point(robot, data), max_err)
    return _dls(tool_jacobian(robot, data), err, damping)


def solve_position(robot, target: np.ndarray, q0: np.ndarray, iterations: int = 100, tol: float = 1e-4,
                   damping: float = 0.05, max_err: float = 0.1) -> tuple[np.ndarray, bool]:
    """Arm joint positions [J] putting the tool point at `target` [3] (world), from q0 by DLS steps clamped to
    the joint limits; returns (q, converged) with converged = the tool point within `tol` metres of the target.
    Local: from a poor q0, or for a target out of reach, it stops at the nearest point it finds."""
    target = np.asarray(target, dtype=np.float64)
    q = np.clip(np.asarray(q0, dtype=np.float64), robot.lower, robot.upper)
    if q.shape != (robot.dof,) or target.shape != (3,):
        raise ValueError(f"q0 must have shape ({robot.dof},) and target (3,), got {q.shape} / {target.shape}")
    data = mujoco.MjData(robot.model)
    for i in range(iterations + 1):
        data.qpos[robot.qpos_adr] = q
        mujoco.mj_kinematics(robot.model, data)
        mujoco.mj_comPos(robot.model, data)
        err = target - tool_point(robot, data)
        if float(np.linalg.norm(err)) <= tol:
            return q, True
        if i == iterations:
            break
        q = np.clip(q + _dls(tool_jacobian(robot, data), _clip_norm(err, max_err), damping), robot.lower, robot.upper)
    return q, False


__all__ = ["dls_step", "solve_position", "tool_jacobian", "tool_point"]
