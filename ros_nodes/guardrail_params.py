"""Guardrails as flat ROS parameters (numbers and number arrays), converted to planner.config.GuardrailConfig.

ROS parameters cannot hold lists of structs, so zones are flat arrays: `keep_out_spheres` is
[cx, cy, cz, r, ...], `keep_out_boxes` is [lo_x, lo_y, lo_z, hi_x, hi_y, hi_z, ...], `speed_zone_spheres` is
[cx, cy, cz, r, max_speed_m_s, ...]. The mpc and safety_filter nodes read the same names, so a YAML file sets
both from one block.

Empty workspace corners and joint vectors mean the robot's own values: its description's joint limits and the
workspace box derived from its reach (planner.config.guardrails_for), so one YAML file works for any arm. Joint
limits are given like every joint value on the ROS side, in the driver's convention (as /joint_states reports
them, e.g. Franka's datasheet values for an FR3); `to_config(robot)` converts them to the description's
(robot.from_driver), the convention of the planner's GuardrailConfig.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from jepa_mpc.planner.config import BoxZone, GuardrailConfig, SpeedZone, SphereZone, workspace_for
from jepa_mpc.ros_nodes.params import param


def _chunks(values, size: int, name: str) -> list[tuple[float, ...]]:
    values = [float(v) for v in values]
    if len(values) % size:
        raise ValueError(f"{name} must hold groups of {size} numbers, got {len(values)} numbers")
    return [tuple(values[i : i + size]) for i in range(0, len(values), size)]


@dataclasses.dataclass(frozen=True)
class GuardrailParams:
    """The user-facing guardrail settings (metres, radians, seconds; world frame)."""

    workspace_lo: tuple = param((), "EE workspace box low corner; empty: derived from the arm's reach "
                                "(planner.config.workspace_for; the Panda's: [-0.3, -0.8, 0.0])")
    workspace_hi: tuple = param((), "EE workspace box high corner; empty: derived from the arm's reach "
                                "(the Panda's: [0.9, 0.8, 1.2])")
    keep_out_spheres: tuple = param((), "keep-out spheres [cx,cy,cz,r,...]")
    keep_out_boxes: tuple = param((), "keep-out boxes [lo xyz, hi xyz, ...]")
    speed_zone_spheres: tuple = param((),
        "slow zones [cx,cy,cz,r,max_ee_speed_m_s,...]")
    table_z_m: float = param(0.0, "table top height")
    table_margin_m: float = param(0.01, "clearance above the table")
    joint_margin_rad: float = param(0.02, "joint limits tightened by this")
    joint_lower: tuple = param((), "joint lower limits, one per arm joint, driver convention (as /joint_states); "
                               "empty: the description's")
    joint_upper: tuple = param((), "joint upper limits, one per arm joint, driver convention (as /joint_states); "
                               "empty: the description's")

    def __post_init__(self) -> None:
        self.to_config()  # validates every value, with GuardrailConfig's messages

    def to_config(self, robot=None) -> GuardrailConfig:
        """The planner's GuardrailConfig for these settings on `robot` (raises ValueError on bad values).

        Empty workspace corners take `workspace_for(robot)`; without a robot, GuardrailConfig's documented box
        (the embedded Panda's cell). Joint limits are converted from the driver's convention to the description's
        with the robot's joint offsets (without a robot, the embedded Panda's); a vector of the wrong length is
        passed on as given, for GuardrailConfig.for_robot to report."""
        for name in ("workspace_lo", "workspace_hi"):
            if len(getattr(self, name)) not in (0, 3):
                raise ValueError(f"{name} must be 3 numbers or empty (the arm's derived box), got "
                                 f"{list(getattr(self, name))}")
        if robot is not None:
            lo, hi = workspace_for(robot)
        else:
            lo, hi = GuardrailConfig().workspace_lo, GuardrailConfig().workspace_hi
        spheres = [SphereZone(c[:3], c[3]) for c in _chunks(self.keep_out_spheres, 4, "keep_out_spheres")]
        boxes = [BoxZone(c[:3], c[3:]) for c in _chunks(self.keep_out_boxes, 6, "keep_out_boxes")]
        slow = [SpeedZone(SphereZone(c[:3], c[3]), c[4])
                for c in _chunks(self.speed_zone_spheres, 5, "speed_zone_spheres")]
        if robot is not None:
            offsets = np.asarray(robot.joint_offsets, dtype=np.float64)
        else:
            from jepa_mpc.robots.panda import DRIVER_OFFSETS

            offsets = np.asarray(DRIVER_OFFSETS, dtype=np.float64)

        def model(values: tuple) -> tuple[float, ...] | None:
            if not values:
                return None
            if len(values) != len(offsets):
                return tuple(values)
            return tuple(float(v) for v in np.asarray(values, dtype=np.float64) - offsets)

        return GuardrailConfig(
            joint_lower=model(tuple(self.joint_lower)), joint_upper=model(tuple(self.joint_upper)),
            joint_margin_rad=self.joint_margin_rad, workspace_lo=tuple(self.workspace_lo) or lo,
            workspace_hi=tuple(self.workspace_hi) or hi, keep_out=(*spheres, *boxes), table_z_m=self.table_z_m,
            table_margin_m=self.table_margin_m, speed_zones=tuple(slow))
