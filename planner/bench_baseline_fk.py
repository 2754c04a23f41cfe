"""BASELINE FOR planner/bench.py ONLY: the pre-Robot, Panda-specific forward kinematics, kept for the comparison.

This is planner/kinematics.py as it was before the any-arm change (a serial-chain torch FK for the Panda, with
the Panda's 5 hand-placed check points), copied verbatim apart from its imports, so `jepa-mpc bench-planner --fk`
can time the generic robots.kinematics.ArmKinematics against the code it replaced. Nothing else may import this
module; the planner uses robots/kinematics.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import mujoco
import numpy as np
import torch

from jepa_mpc.planner.types import PlanContext, Rollout
from jepa_mpc.robots.check_points import CheckPoint
from jepa_mpc.robots.panda import ARM_JOINTS

# The pre-Robot GuardrailConfig.check_points default: EE site, hand centre, wrist (link7 origin), forearm midpoint
# (half of link5's offset in link4), elbow.
PANDA_HAND_PLACED_POINTS = (
    CheckPoint("ee", "end_effector", (0.0, 0.0, 0.0), 0.0),
    CheckPoint("hand", "panda0_link7", (0.0, 0.0, 0.107), 0.06),
    CheckPoint("wrist", "panda0_link7", (0.0, 0.0, 0.0), 0.06),
    CheckPoint("forearm", "panda0_link4", (-0.04125, 0.192, 0.0), 0.06),
    CheckPoint("elbow", "panda0_link4", (0.0, 0.0, 0.0), 0.07),
)


class PrePandaTableClearance:
    """The pre-Robot table guardrail: every check point (no table mask) stays above the table top."""

    name = "table"

    def __init__(self, table_z: float, margin: float, radii: torch.Tensor, slack: float) -> None:
        self.min_z = table_z + margin + radii + slack  # [P]

    def __call__(self, rollout: Rollout, ctx: PlanContext) -> tuple[torch.Tensor, torch.Tensor]:
        z = rollout.points[:, 1:, :, 2]  # [K, H, P]
        amount = torch.relu(self.min_z - z).sum(dim=(1, 2))
        return amount <= 0, amount


def _quat_to_mat(quat: np.ndarray) -> np.ndarray:
    """MuJoCo quaternion (w, x, y, z) -> rotation matrix [3, 3]."""
    mat = np.zeros(9)
    mujoco.mju_quat2Mat(mat, np.asarray(quat, dtype=np.float64))
    return mat.reshape(3, 3)


def _skew(v: np.ndarray) -> np.ndarray:
    return np.array([[0.0, -v[2], v[1]], [v[2], 0.0, -v[0]], [-v[1], v[0], 0.0]])


@dataclasses.dataclass(frozen=True)
class _Link:
    """One body of the chain: a fixed offset from its parent, then optionally a hinge (axis, anchor)."""

    pos: torch.Tensor  # [3] body origin in the parent frame
    rot: torch.Tensor  # [3, 3] body orientation in the parent frame
    joint: int  # index into the arm joint vector, or -1 for a welded body
    axis_k: torch.Tensor  # [3, 3] skew(axis)
    axis_k2: torch.Tensor  # [3, 3] skew(axis)^2
    anchor: torch.Tensor  # [3] joint position in the body frame
    has_anchor: bool
    rot_t: torch.Tensor  # [3, 3] rot transposed (left-multiplies batch-last frames)
    rot_k_t: torch.Tensor  # [9, 3] [rot | rot @ K | rot @ K^2] transposed blockwise, one GEMM per hinge


class PrePandaKinematics:
    """World positions of named points on the arm for batches of joint vectors.

    `forward(q [..., J]) -> [..., P, 3]` with P = len(points), in the order given. Differentiable in q.
    """

    def __init__(
        self,
        model: mujoco.MjModel,
        points: Sequence[CheckPoint],
        joint_names: Sequence[str] = ARM_JOINTS,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        self.device, self.dtype = torch.device(device), dtype
        self.joint_names = tuple(joint_names)
        self.point_names = tuple(p.name for p in points)
        joint_ids = [model.joint(name).id for name in self.joint_names]
        ranges = np.array([model.jnt_range[j] for j in joint_ids])
        self.lower = self._t(ranges[:, 0])  # [J] MJCF limits (the clamp in the action semantics)
        self.upper = self._t(ranges[:, 1])

        # Each point -> (body id, offset in the body frame).
        anchors: list[tuple[int, np.ndarray]] = []
        for p in points:
            site = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, p.frame)
            if site >= 0:
                body = int(model.site_bodyid[site])
                offset = model.site_pos[site] + _quat_to_mat(model.site_quat[site]) @ np.asarray(
                    p.offset
                )
            else:
                body = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, p.frame)
                if body < 0:
                    raise ValueError(
                        f"check point {p.name!r}: no site or body named {p.frame!r} in the model"
                    )
                offset = np.asarray(p.offset, dtype=np.float64)
            anchors.append((body, offset))

        # The chain from the world to the deepest point body; every point body must lie on it.
        leaf = max((b for b, _ in anchors), key=lambda b: self._depth(model, b))
        chain = [leaf]
        while chain[-1] != 0:
            chain.append(int(model.body_parentid[chain[-1]]))
        chain = chain[::-1][1:]  # root -> leaf, world body dropped
        for (body, _), p in zip(anchors, points, strict=True):
            if body not in chain and body != 0:
                raise ValueError(
                    f"check point {p.name!r} is on body {model.body(body).name!r}, off the serial chain"
                )

        self._links: list[_Link] = []
        for body in chain:
            njnt, adr = int(model.body_jntnum[body]), int(model.body_jntadr[body])
            joint, axis, anchor = -1, np.zeros(3), np.zeros(3)
            if njnt > 1:
                raise ValueError(
                    f"body {model.body(body).name!r} has {njnt} joints; only one hinge per body"
                )
            if njnt == 1:
                if model.jnt_type[adr] != mujoco.mjtJoint.mjJNT_HINGE or adr not in joint_ids:
                    raise ValueError(
                        f"joint {model.joint(adr).name!r} on the chain is not one of the arm hinges"
                    )
                joint, axis, anchor = joint_ids.index(adr), model.jnt_axis[adr], model.jnt_pos[adr]
            k = _skew(np.asarray(axis, dtype=np.float64))
            rot = _quat_to_mat(model.body_quat[body])
            self._links.append(
                _Link(
                    pos=self._t(model.body_pos[body]),
                    rot=self._t(rot),
                    joint=joint,
                    axis_k=self._t(k),
                    axis_k2=self._t(k @ k),
                    anchor=self._t(anchor),
                    has_anchor=bool(np.any(np.asarray(anchor) != 0)),
                    rot_t=self._t(rot.T),
                    rot_k_t=self._t(np.concatenate([rot.T, (rot @ k).T, (rot @ k @ k).T], axis=0)),
                )
            )
        # Point p is attached after link index `_point_link[p]` (-1: world).
        self._point_link = [chain.index(b) if b != 0 else -1 for b, _ in anchors]
        self._offsets = self._t(np.stack([o for _, o in anchors]))  # [P, 3]

    def _t(self, array: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.asarray(array, dtype=np.float64), dtype=self.dtype, device=self.device)

    @staticmethod
    def _depth(model: mujoco.MjModel, body: int) -> int:
        depth = 0
        while body != 0:
            body, depth = int(model.body_parentid[body]), depth + 1
        return depth

    @property
    def num_points(self) -> int:
        """P, the number of points returned by forward."""
        return len(self.point_names)

    def index(self, name: str) -> int:
        """Position of a named point in forward's output."""
        if name not in self.point_names:
            raise KeyError(f"no check point {name!r}; valid: {list(self.point_names)}")
        return self.point_names.index(name)

    def forward(self, q: torch.Tensor) -> torch.Tensor:
        """q [..., J] -> point positions [..., P, 3] in the world frame.

        Frames are kept batch-last (rot [3, 3, N], pos [3, N]) so every product with a constant matrix is
        a small GEMM over contiguous rows and the hinge update is elementwise on [N] vectors: after a
        hinge, R' = R @ R_body @ (I + sin(q) K + (1 - cos(q)) K^2)  (Rodrigues).
        """
        batch = q.shape[:-1]
        q = q.reshape(-1, q.shape[-1]).T  # [J, N]
        n = q.shape[1]
        rot = torch.eye(3, device=q.device, dtype=q.dtype)[:, :, None].expand(3, 3, n)  # [3(i), 3(k), N]
        pos = q.new_zeros(3, n)  # [3, N] world position of the current body
        frames: list[tuple[torch.Tensor, torch.Tensor]] = []
        for link in self._links:
            pos = pos + torch.einsum("ikn,k->in", rot, link.pos)
            if link.joint < 0:
                rot = link.rot_t @ rot  # [3, 3, N]: (R @ R_body)[i, j] = sum_k R[i, k] R_body[k, j]
            else:
                sin, cos = torch.sin(q[link.joint]), torch.cos(q[link.joint])  # [N]
                # [3(i), 3(R_body | R_body K | R_body K^2), 3, N]
                parts = (link.rot_k_t @ rot).reshape(3, 3, 3, n)
                if link.has_anchor:  # the hinge passes through `anchor`, not the body origin
                    # shift = anchor - R_joint @ anchor, in the body frame: [3, N]
                    shift = link.anchor[:, None] - (
                        link.anchor[:, None]
                        + sin * (link.axis_k @ link.anchor)[:, None]
                        + (1 - cos) * (link.axis_k2 @ link.anchor)[:, None]
                    )
                    pos = pos + torch.einsum("ikn,kn->in", parts[:, 0], shift)
                rot = parts[:, 0] + sin * parts[:, 1] + (1 - cos) * parts[:, 2]
            frames.append((pos, rot))
        out = []
        for p, link_idx in enumerate(self._point_link):
            if link_idx < 0:
                out.append(self._offsets[p][:, None].expand(3, n))
            else:
                body_pos, body_rot = frames[link_idx]
                out.append(body_pos + torch.einsum("ikn,k->in", body_rot, self._offsets[p]))
        # [P, 3, N] -> [N, P, 3], contiguous (norms over a strided last dim are ~20x slower on CPU)
        points = torch.stack(out).permute(2, 0, 1).contiguous()
        return points.reshape(*batch, len(out), 3)  # [..., P, 3]
