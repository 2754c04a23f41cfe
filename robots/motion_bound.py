"""A proven bound on how far any check point moves for a given joint motion: the basis of the swept checks.

For a point c on the arm and an arm joint i above it, |d c / d q_i| <= L[i, k] in every configuration:
- a hinge turns c about its axis, so |d c / d q_i| = distance from c to the axis <= |c - anchor_i|, and that
  distance is bounded from the chain alone: each body below the joint adds at most |its offset + its joint anchor|
  plus the point's distance from that anchor (rotations keep lengths), so L is an upper bound for all q;
- a slide moves c along its unit axis: |d c / d q_i| = 1;
- a joint not above the point does not move it: L = 0.
Along the joint-space segment q(s) = q_a + s (q_b - q_a), s in [0, 1] (the joint_trajectory_controller's linear
interpolation), the point's path length is then at most D_k = sum_i L[i, k] |q_b,i - q_a,i| (triangle inequality on
the Jacobian columns, integrated over s). docs/safety.md ("Between control points") states how the guardrails use it.

NumPy + MuJoCo only (the safety filter reads it; no torch).
"""
from __future__ import annotations

import dataclasses
import math
import weakref
from collections.abc import Sequence

import mujoco
import numpy as np

from jepa_mpc.robots.check_points import CheckPoint


def _mat(quat: np.ndarray) -> np.ndarray:
    out = np.zeros(9)
    mujoco.mju_quat2Mat(out, np.asarray(quat, dtype=np.float64))
    return out.reshape(3, 3)


@dataclasses.dataclass(frozen=True)
class MotionBound:
    """lever [J, P]: bound on |d point_k / d q_j| over all configurations (m/rad for hinges, 1 for slides)."""

    lever: np.ndarray

    def displacement(self, dq: np.ndarray) -> np.ndarray:
        """Joint motion [..., J] -> bound on each point's path length [..., P] along the straight segment."""
        return np.abs(np.asarray(dq, dtype=np.float64)) @ self.lever


def _point_body(model: mujoco.MjModel, point: CheckPoint) -> tuple[int, np.ndarray]:
    """(body id, offset in that body's frame): a site's own pose is folded into the offset."""
    site = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, point.frame)
    offset = np.asarray(point.offset, dtype=np.float64)
    if site >= 0:
        return int(model.site_bodyid[site]), model.site_pos[site] + _mat(model.site_quat[site]) @ offset
    body = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, point.frame)
    if body < 0:
        raise ValueError(f"check point {point.name!r}: no site or body named {point.frame!r} in the model")
    return body, offset


def motion_bound(model: mujoco.MjModel, joint_names: Sequence[str], points: Sequence[CheckPoint]) -> MotionBound:
    """The lever-arm bound for `points` on the arm joints `joint_names` of `model` (conservative, all q)."""
    joint_ids = [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, n) for n in joint_names]
    if min(joint_ids, default=0) < 0:
        raise ValueError(f"unknown joint among {list(joint_names)}")
    column = {j: i for i, j in enumerate(joint_ids)}
    lever = np.zeros((len(joint_ids), len(points)))
    for k, point in enumerate(points):
        body, x = _point_body(model, point)
        exact = True  # x is the point's exact position in `body`'s frame (no joint crossed yet)
        rho = float(np.linalg.norm(x))  # else: a bound on its distance from `body`'s frame origin
        while body != 0:
            pos, rot = model.body_pos[body], _mat(model.body_quat[body])
            moved = False
            for j in range(model.body_jntadr[body], model.body_jntadr[body] + model.body_jntnum[body]):
                moved = True
                kind, anchor = model.jnt_type[j], np.asarray(model.jnt_pos[j], dtype=np.float64)
                if kind == mujoco.mjtJoint.mjJNT_HINGE:
                    arm = float(np.linalg.norm(x - anchor)) if exact else rho + float(np.linalg.norm(anchor))
                    if j in column:
                        lever[column[j], k] = max(lever[column[j], k], arm)
                    rho = float(np.linalg.norm(pos + rot @ anchor)) + arm
                elif kind == mujoco.mjtJoint.mjJNT_SLIDE:
                    if j in column:
                        lever[column[j], k] = 1.0
                    lo, hi = model.jnt_range[j] if model.jnt_limited[j] else (-math.inf, math.inf)
                    travel = max(abs(float(lo)), abs(float(hi)))
                    rho = float(np.linalg.norm(pos)) + (float(np.linalg.norm(x)) if exact else rho) + travel
                else:
                    raise ValueError(f"joint {model.joint(j).name!r} above {point.name!r} is not a hinge or slide")
                exact = False
            if not moved and exact:
                x = pos + rot @ x
                rho = float(np.linalg.norm(x))
            elif not moved:
                rho = float(np.linalg.norm(pos)) + rho
            body = int(model.body_parentid[body])
    return MotionBound(lever=lever)


_BOUNDS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
"""robot -> {check points: lever}: a Robot is never mutated after construction, so its bound is computed once (the
campaign builds a SafetyFilter per case; recomputing the chain walk each time cost ~2 ms)."""


def robot_motion_bound(robot, points: Sequence[CheckPoint] | None = None) -> MotionBound:
    """motion_bound for a Robot's arm joints and check points (default: all of them, the tool point first).

    Cached per robot and point set; each call returns its own copy of the lever array."""
    key = tuple(points if points is not None else robot.check_points)
    per_robot = _BOUNDS.setdefault(robot, {})
    if key not in per_robot:
        per_robot[key] = motion_bound(robot.model, robot.model_joint_names, key).lever
    return MotionBound(lever=per_robot[key].copy())


def samples_for(displacement_m: float, resolution_m: float) -> int:
    """Even number N >= 2 of interior samples so that D / (2 N) <= resolution_m (capped at 4096).

    Even N puts two samples at 1/2 -+ 1/(2N), so every point a coarser check (inflation D/2 at both ends) clears
    also clears here (planner plans pass the filter)."""
    if not math.isfinite(displacement_m) or displacement_m <= 0:
        return 2
    n = math.ceil(displacement_m / (2.0 * resolution_m))
    return int(min(4096, max(2, n + (n % 2))))
