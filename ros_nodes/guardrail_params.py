"""Guardrails as flat ROS parameters (numbers and number arrays), converted to planner.config.GuardrailConfig.

ROS parameters cannot hold lists of structs, so zones are flat arrays: `keep_out_spheres` is
[cx, cy, cz, r, ...], `keep_out_boxes` is [lo_x, lo_y, lo_z, hi_x, hi_y, hi_z, ...], `speed_zone_spheres` is
[cx, cy, cz, r, max_speed_m_s, ...]. The mpc and safety_filter nodes read the same names, so a YAML file sets
both from one block.
"""
from __future__ import annotations

import dataclasses

from jepa_mpc.planner.config import BoxZone, GuardrailConfig, SpeedZone, SphereZone
from jepa_mpc.ros_nodes.params import param


def _chunks(values, size: int, name: str) -> list[tuple[float, ...]]:
    values = [float(v) for v in values]
    if len(values) % size:
        raise ValueError(f"{name} must hold groups of {size} numbers, got {len(values)} numbers")
    return [tuple(values[i : i + size]) for i in range(0, len(values), size)]


@dataclasses.dataclass(frozen=True)
class GuardrailParams:
    """The user-facing guardrail settings (metres, radians, seconds; world frame)."""

    workspace_lo: tuple = param((-0.3, -0.8, 0.0), "EE workspace box low corner")
    workspace_hi: tuple = param((0.9, 0.8, 1.2), "EE workspace box high corner")
    keep_out_spheres: tuple = param((), "keep-out spheres [cx,cy,cz,r,...]")
    keep_out_boxes: tuple = param((), "keep-out boxes [lo xyz, hi xyz, ...]")
    speed_zone_spheres: tuple = param((),
        "slow zones [cx,cy,cz,r,max_ee_speed_m_s,...]")
    table_z_m: float = param(0.0, "table top height")
    table_margin_m: float = param(0.01, "clearance above the table")
    joint_margin_rad: float = param(0.02, "joint limits tightened by this")
    joint_lower: tuple = param((), "7 joint lower limits; empty: the MJCF's")
    joint_upper: tuple = param((), "7 joint upper limits; empty: the MJCF's")

    def __post_init__(self) -> None:
        self.to_config()  # validates every value, with GuardrailConfig's messages

    def to_config(self) -> GuardrailConfig:
        """The planner's GuardrailConfig for these settings (raises ValueError on bad values)."""
        spheres = [SphereZone(c[:3], c[3]) for c in _chunks(self.keep_out_spheres, 4, "keep_out_spheres")]
        boxes = [BoxZone(c[:3], c[3:]) for c in _chunks(self.keep_out_boxes, 6, "keep_out_boxes")]
        slow = [SpeedZone(SphereZone(c[:3], c[3]), c[4])
                for c in _chunks(self.speed_zone_spheres, 5, "speed_zone_spheres")]
        return GuardrailConfig(
            joint_lower=tuple(self.joint_lower) or None, joint_upper=tuple(self.joint_upper) or None,
            joint_margin_rad=self.joint_margin_rad, workspace_lo=tuple(self.workspace_lo),
            workspace_hi=tuple(self.workspace_hi), keep_out=(*spheres, *boxes), table_z_m=self.table_z_m,
            table_margin_m=self.table_margin_m, speed_zones=tuple(slow))
