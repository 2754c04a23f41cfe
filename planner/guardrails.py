"""Hard guardrails on the joint trajectory implied by the actions, through the arm's known kinematics.

Each constraint returns (feasible [K] bool, violation [K] >= 0): the violation sums, over steps 1..H, how
far the trajectory is past the limit (m, rad, rad/s, ...), so it is zero exactly when feasible and gives
the gradient planner a penalty to descend. Limits are tightened by `slack`, so float32 plans also pass
the float64 filter.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from jepa_mpc.planner.config import BoxZone, SphereZone, Zone
from jepa_mpc.planner.goal_costs import safe_norm
from jepa_mpc.planner.swept import half_sweep, swept_shortfall
from jepa_mpc.planner.types import PlanContext, Rollout


def _result(amount: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return amount <= 0, amount


class ZoneSet:
    """Signed distance (m, negative inside) from points to the nearest of some spheres and boxes."""

    def __init__(
        self, zones: Sequence[Zone], device: torch.device, dtype: torch.dtype = torch.float32
    ) -> None:
        spheres = [z for z in zones if isinstance(z, SphereZone)]
        boxes = [z for z in zones if isinstance(z, BoxZone)]

        def t(values: list) -> torch.Tensor:
            return torch.tensor(values, device=device, dtype=dtype).reshape(-1, 3)

        self.centers, self.radii = (
            t([s.center for s in spheres]),
            torch.tensor([s.radius for s in spheres], device=device, dtype=dtype),
        )
        self.box_center = t([[(a + b) / 2 for a, b in zip(bx.lo, bx.hi, strict=True)] for bx in boxes])
        self.box_half = t([[(b - a) / 2 for a, b in zip(bx.lo, bx.hi, strict=True)] for bx in boxes])

    def __len__(self) -> int:
        return self.centers.shape[0] + self.box_center.shape[0]

    def sdf(self, points: torch.Tensor) -> torch.Tensor:
        """points [..., 3] -> signed distance to the nearest zone [...] (+inf without zones)."""
        dist = []
        if self.centers.shape[0]:
            # cdist without the matrix-multiply shortcut: exact to float rounding, and ~3x faster than broadcasting.
            flat = torch.cdist(points.reshape(-1, 3), self.centers, compute_mode="donot_use_mm_for_euclid_dist")
            d = flat.reshape(*points.shape[:-1], -1) - self.radii  # [..., S]
            dist.append(d.min(dim=-1).values if d.shape[-1] > 1 else d[..., 0])
        if self.box_center.shape[0]:
            excess = (points[..., None, :] - self.box_center).abs() - self.box_half  # [..., B, 3]
            outside = safe_norm(torch.clamp_min(excess, 0.0), dim=-1) * (excess.amax(-1) > 0)  # [..., B]
            inside = torch.clamp_max(excess.amax(-1), 0.0)
            dist.append((outside + inside).min(dim=-1).values)
        if len(dist) == 1:
            return dist[0]
        if not dist:
            return points.new_full(points.shape[:-1], float("inf"))
        return torch.minimum(dist[0], dist[1])


class JointPositionLimit:
    """lower <= q_t <= upper for t = 1..H."""

    name = "joint_position"

    def __init__(self, lower: torch.Tensor, upper: torch.Tensor, slack: float) -> None:
        self.lower, self.upper = lower + slack, upper - slack

    def __call__(self, rollout: Rollout, ctx: PlanContext) -> tuple[torch.Tensor, torch.Tensor]:
        q = rollout.q[:, 1:]  # [K, H, J]
        over = torch.relu(self.lower - q) + torch.relu(q - self.upper)
        return _result(over.sum(dim=(1, 2)))


class JointVelocityLimit:
    """|qd_t| <= max_vel per joint."""

    name = "joint_velocity"

    def __init__(self, max_vel: torch.Tensor, slack: float) -> None:
        self.max_vel = max_vel - slack

    def __call__(self, rollout: Rollout, ctx: PlanContext) -> tuple[torch.Tensor, torch.Tensor]:
        return _result(torch.relu(rollout.qd.abs() - self.max_vel).sum(dim=(1, 2)))


class JointAccelerationLimit:
    """|qd_t - qd_{t-1}| / dt <= max_acc per joint; qd_{-1} is the last command's velocity ctx.qd0."""

    name = "joint_acceleration"

    def __init__(self, max_acc: torch.Tensor, slack: float) -> None:
        self.max_acc = max_acc - slack

    def __call__(self, rollout: Rollout, ctx: PlanContext) -> tuple[torch.Tensor, torch.Tensor]:
        qd = rollout.qd  # [K, H, J]
        qd_prev = torch.cat([ctx.qd0.expand(qd.shape[0], 1, -1), qd[:, :-1]], dim=1)  # [K, H, J]
        acc = (qd - qd_prev) / rollout.dt
        return _result(torch.relu(acc.abs() - self.max_acc).sum(dim=(1, 2)))


class WorkspaceBox:
    """The end-effector point (with its radius) stays inside an axis-aligned box, along every step's whole segment
    when `lever` [J, P] (robots/motion_bound.py) is given (planner/swept.py)."""

    name = "workspace"

    def __init__(
        self, lo: torch.Tensor, hi: torch.Tensor, ee_index: int, radius: float, slack: float,
        lever: torch.Tensor | None = None,
    ) -> None:
        self.lo, self.hi, self.ee_index = lo + radius + slack, hi - radius - slack, ee_index
        self.lever = None if lever is None else lever[:, ee_index : ee_index + 1]  # [J, 1]

    def __call__(self, rollout: Rollout, ctx: PlanContext) -> tuple[torch.Tensor, torch.Tensor]:
        if self.lever is None:
            ee = rollout.points[:, 1:, self.ee_index]  # [K, H, 3]
            return _result((torch.relu(self.lo - ee) + torch.relu(ee - self.hi)).sum(dim=(1, 2)))
        ee = rollout.points[:, :, self.ee_index]  # [K, H+1, 3]
        margin = torch.minimum(ee - self.lo, self.hi - ee)  # [K, H+1, 3] per-axis room (1-Lipschitz)
        return _result(swept_shortfall(margin, 0.0, half_sweep(rollout, self.lever)))


class KeepOut:
    """No check point comes closer than its radius to a keep-out sphere or box (e.g. a person zone), at the
    control points and, with `lever` [J, P], anywhere along the segments between them (planner/swept.py)."""

    name = "keep_out"

    def __init__(self, zones: ZoneSet, radii: torch.Tensor, slack: float, lever: torch.Tensor | None = None) -> None:
        self.zones, self.clearance, self.lever = zones, radii + slack, lever  # [P], [J, P]

    def __call__(self, rollout: Rollout, ctx: PlanContext) -> tuple[torch.Tensor, torch.Tensor]:
        if self.lever is None:
            sdf = self.zones.sdf(rollout.points[:, 1:])  # [K, H, P]
            return _result(torch.relu(self.clearance - sdf).sum(dim=(1, 2)))
        sdf = self.zones.sdf(rollout.points)  # [K, H+1, P]
        return _result(swept_shortfall(sdf, self.clearance, half_sweep(rollout, self.lever)))


class TableClearance:
    """Every table-checked point stays above the table top: z >= table_z + margin + radius (along the segments
    between control points too, with `lever` [J, P] of all points)."""

    name = "table"

    def __init__(self, table_z: float, margin: float, radii: torch.Tensor, index: torch.Tensor,
                 slack: float, lever: torch.Tensor | None = None) -> None:
        self.min_z, self.index = table_z + margin + radii + slack, index  # [Q] for the points index [Q]
        self.lever = None if lever is None else lever[:, index]  # [J, Q]

    def __call__(self, rollout: Rollout, ctx: PlanContext) -> tuple[torch.Tensor, torch.Tensor]:
        if self.lever is None:
            z = rollout.points[:, 1:, self.index, 2]  # [K, H, Q]
            return _result(torch.relu(self.min_z - z).sum(dim=(1, 2)))
        z = rollout.points[:, :, self.index, 2]  # [K, H+1, Q]
        return _result(swept_shortfall(z - self.min_z, 0.0, half_sweep(rollout, self.lever)))


class ZoneSpeedLimit:
    """Speed limit inside speed zones.

    Without `lever`: the EE's chord speed over a step, when either end of it is inside. With `lever` [J, P] and
    `radii` [P] (what the registry builds): every check sphere whose swept segment may touch the zone (an end
    closer than its radius plus half its path-length bound) moves at most at the zone's speed, judged by the
    path-length bound / dt, which bounds its speed at every instant of the segment (docs/safety.md).
    """

    name = "zone_speed"

    def __init__(
        self, zones: Sequence[ZoneSet], max_speed: torch.Tensor, ee_index: int, slack: float,
        lever: torch.Tensor | None = None, radii: torch.Tensor | None = None,
    ) -> None:
        self.zones, self.ee_index, self.slack = list(zones), ee_index, slack
        self.max_speed = torch.clamp_min(max_speed - slack, 0.0)  # [Z]
        if (lever is None) != (radii is None):
            raise ValueError("ZoneSpeedLimit needs both lever and radii, or neither")
        self.lever, self.radii = lever, radii

    def __call__(self, rollout: Rollout, ctx: PlanContext) -> tuple[torch.Tensor, torch.Tensor]:
        if self.lever is None:
            ee = rollout.points[:, :, self.ee_index]  # [K, H+1, 3]
            speed = safe_norm(torch.diff(ee, dim=1)) / rollout.dt  # [K, H]
            amount = speed.new_zeros(speed.shape[0])
            for zone, limit in zip(self.zones, self.max_speed, strict=True):
                inside = zone.sdf(ee) <= self.slack  # [K, H+1]
                either = inside[:, 1:] | inside[:, :-1]  # [K, H]
                amount = amount + (torch.relu(speed - limit) * either).sum(dim=1)
            return _result(amount)
        half = half_sweep(rollout, self.lever)  # [K, H, P]
        speed = 2.0 * half / rollout.dt  # [K, H, P] bound on each sphere's speed along the step
        amount = speed.new_zeros(speed.shape[0])
        for zone, limit in zip(self.zones, self.max_speed, strict=True):  # a few zones, not samples
            sdf = zone.sdf(rollout.points)  # [K, H+1, P]
            near = torch.minimum(sdf[:, :-1], sdf[:, 1:]) <= half + self.radii + self.slack  # [K, H, P]
            amount = amount + (torch.relu(speed - limit) * near).flatten(1).sum(dim=1)
        return _result(amount)
