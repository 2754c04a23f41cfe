"""Each guardrail on hand-made trajectories: mask, margin (zero exactly when feasible) and gradient
direction.
"""

from __future__ import annotations

import pytest
import torch

from jepa_mpc.planner.config import BoxZone, SphereZone
from jepa_mpc.planner.guardrails import (
    JointAccelerationLimit,
    JointPositionLimit,
    JointVelocityLimit,
    KeepOut,
    TableClearance,
    WorkspaceBox,
    ZoneSet,
    ZoneSpeedLimit,
)
from jepa_mpc.planner.types import PlanContext, Rollout

CTX = PlanContext(z0=torch.zeros(1), q0=torch.zeros(7), qd0=torch.zeros(7))


def _rollout(
    q: torch.Tensor | None = None, points: torch.Tensor | None = None, dt: float = 0.1
) -> Rollout:
    if q is None:
        q = torch.zeros(points.shape[0], points.shape[1], 7)
    if points is None:
        points = torch.zeros(q.shape[0], q.shape[1], 1, 3)
    k, h1 = q.shape[:2]
    return Rollout(
        actions=torch.zeros(k, h1 - 1, 8),
        z=torch.zeros(k, h1 - 1, 1),
        q=q,
        qd=torch.diff(q, dim=1) / dt,
        points=points,
        dt=dt,
    )


def _path(*values: float) -> torch.Tensor:
    """A joint trajectory moving joint 0 through `values` (others at 0): [1, T, 7]."""
    q = torch.zeros(1, len(values), 7)
    q[0, :, 0] = torch.tensor(values)
    return q


def test_joint_position_counts_steps_after_the_first():
    c = JointPositionLimit(torch.full((7,), -1.0), torch.full((7,), 1.0), slack=0.0)
    ok, amount = c(_rollout(torch.cat([_path(5.0, 0.5, 0.9), _path(0.0, 1.2, 1.1)])), CTX)
    assert ok.tolist() == [True, False]  # the current state (step 0) is not judged
    assert amount.tolist() == pytest.approx([0.0, 0.3])  # 0.2 + 0.1 over the upper limit


def test_joint_velocity_and_acceleration():
    q = torch.cat([_path(0.0, 0.1, 0.2), _path(0.0, 0.25, 0.25)])  # speeds 1, 1 / 2.5, 0 rad/s
    vel = JointVelocityLimit(torch.full((7,), 2.0), slack=0.0)
    ok, amount = vel(_rollout(q), CTX)
    assert ok.tolist() == [True, False] and amount.tolist() == pytest.approx([0.0, 0.5])
    acc = JointAccelerationLimit(torch.full((7,), 15.0), slack=0.0)
    ok, amount = acc(_rollout(q), CTX)  # accelerations: 10, 0 / 25, -25 (from rest)
    assert ok.tolist() == [True, False] and amount.tolist() == pytest.approx([0.0, 20.0])
    moving = PlanContext(z0=torch.zeros(1), q0=torch.zeros(7), qd0=torch.tensor([3.0] + [0.0] * 6))
    # Stopping from 3 rad/s in one step: 30 rad/s^2.
    ok, amount = acc(_rollout(_path(0.0, 0.0, 0.0)), moving)
    assert ok.tolist() == [False] and amount.tolist() == pytest.approx([15.0])


def _points(*xyz: tuple[float, float, float]) -> torch.Tensor:
    """One check point moving through xyz: [1, T, 1, 3]."""
    return torch.tensor(xyz, dtype=torch.float32)[None, :, None, :]


def test_workspace_box_with_radius():
    c = WorkspaceBox(
        torch.tensor([0.0, 0.0, 0.0]), torch.tensor([1.0, 1.0, 1.0]), ee_index=0, radius=0.1, slack=0.0
    )
    ok, amount = c(_rollout(points=_points((5, 5, 5), (0.5, 0.5, 0.5), (0.95, 0.5, 0.05))), CTX)
    assert not ok.item() and amount.item() == pytest.approx(0.05 + 0.05)


SPHERE, BOX = SphereZone((0.0, 0.0, 0.0), 0.5), BoxZone((-1.0, -1.0, -1.0), (1.0, 1.0, 1.0))


@pytest.mark.parametrize(
    ("zone", "point", "feasible", "amount"),
    [
        (SPHERE, (0.0, 0.0, 0.7), False, 0.1),  # 0.2 from the surface, needs 0.3
        (SPHERE, (0.0, 0.0, 0.9), True, 0.0),
        (BOX, (0.0, 0.0, 0.5), False, 0.8),  # 0.5 deep + 0.3
        (BOX, (1.2, 1.0, 0.0), False, 0.1),  # 0.2 outside, needs 0.3
        (BOX, (1.2, 1.3, 0.0), True, 0.0),  # corner distance 0.36
    ],
)
def test_keep_out_sphere_and_box(zone, point, feasible, amount):
    c = KeepOut(ZoneSet([zone], torch.device("cpu")), radii=torch.tensor([0.3]), slack=0.0)
    ok, got = c(_rollout(points=_points((9.0, 9.0, 9.0), point)), CTX)
    assert ok.item() == feasible and got.item() == pytest.approx(amount, abs=1e-6)


def test_table_clearance_per_point_radius():
    c = TableClearance(table_z=0.0, margin=0.01, radii=torch.tensor([0.0, 0.05]), index=torch.tensor([0, 1]),
                       slack=0.0)
    pts = torch.tensor([[[[0, 0, 0.5], [0, 0, 0.5]], [[0, 0, 0.02], [0, 0, 0.04]]]])  # [1, 2, 2, 3]
    ok, amount = c(_rollout(points=pts), CTX)
    assert not ok.item() and amount.item() == pytest.approx(0.02)  # second point needs 0.06, has 0.04


def test_table_clearance_checks_only_the_indexed_points():
    # Points 0 and 2 are table-checked (radius 0 and 0.05); point 1 (a finger, the mount) may touch the table.
    c = TableClearance(table_z=0.0, margin=0.01, radii=torch.tensor([0.0, 0.05]), index=torch.tensor([0, 2]),
                       slack=0.0)
    pts = torch.zeros(2, 2, 3, 3)
    pts[..., 2] = 0.5
    pts[0, 1, 1, 2] = -0.3  # sample 0: the unchecked point under the table top: fine
    pts[1, 1, 2, 2] = 0.04  # sample 1: the checked point 2 needs 0.06: 0.02 short
    ok, amount = c(_rollout(points=pts), CTX)
    assert ok.tolist() == [True, False] and amount.tolist() == pytest.approx([0.0, 0.02])


def test_zone_speed_only_inside_the_zone():
    zone = ZoneSet([SphereZone((0.0, 0.0, 0.0), 0.2)], torch.device("cpu"))
    c = ZoneSpeedLimit([zone], torch.tensor([0.1]), ee_index=0, slack=0.0)
    fast_outside = _points((1.0, 0.0, 0.0), (1.05, 0.0, 0.0))  # 0.5 m/s outside: fine
    fast_entering = _points((0.3, 0.0, 0.0), (0.15, 0.0, 0.0))  # 1.5 m/s, ends inside
    slow_inside = _points((0.0, 0.0, 0.0), (0.005, 0.0, 0.0))  # 0.05 m/s inside
    pts = torch.cat([fast_outside, fast_entering, slow_inside])
    ok, amount = c(_rollout(points=pts), CTX)
    assert ok.tolist() == [True, False, True]
    assert amount.tolist() == pytest.approx([0.0, 1.4, 0.0], abs=1e-5)
    zero_limit = ZoneSpeedLimit([zone], torch.tensor([0.0]), ee_index=0, slack=1e-3)
    ok, _ = zero_limit(_rollout(points=_points((0.0, 0.0, 0.0), (0.0, 0.0, 0.0))), CTX)
    assert ok.item()  # standing still satisfies even a zero speed limit


def test_violation_gradient_points_out_of_the_zone():
    c = KeepOut(
        ZoneSet([SphereZone((0.0, 0.0, 0.0), 0.5)], torch.device("cpu")), torch.tensor([0.0]), 0.0
    )
    pts = _points((9.0, 9.0, 9.0), (0.1, 0.2, 0.0)).requires_grad_(True)
    _, amount = c(_rollout(points=pts), CTX)
    amount.sum().backward()
    step = -pts.grad[0, 1, 0]  # descent direction for the point inside
    assert torch.dot(step, torch.tensor([0.1, 0.2, 0.0])) > 0  # away from the centre
