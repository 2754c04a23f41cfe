"""Cost terms and guardrails by name (like nav2's critics list), and the builder of a CostStack from
config.

Unknown names fail loudly and list the valid ones. Guardrails are intrinsic: every one is always built
(those with nothing to check, e.g. no keep-out zones, are skipped), and config only sets their limits.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import torch

from jepa_mpc.planner.action_costs import ActionMagnitude, ActionRate
from jepa_mpc.planner.config import COST_NAMES, CostConfig, GuardrailConfig
from jepa_mpc.planner.costs import Constraint, Cost, CostStack
from jepa_mpc.planner.goal_costs import Critic, CubePush, GoalEnergy, LatentFn, PoseGoalFK, PoseGoalProbe
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
from jepa_mpc.planner.kinematics import ArmKinematics
from jepa_mpc.sim.arm_control import ArmControlConfig


@dataclasses.dataclass(frozen=True)
class CostDeps:
    """Run-time objects some cost terms need: learned EE and cube probes, a critic, the EE index in FK points."""

    ee_index: int
    probe: LatentFn | None = None
    critic: LatentFn | None = None
    cube_probe: LatentFn | None = None
    gripper_max_m: float = ArmControlConfig().gripper_max_m


def _need(value: LatentFn | None, term: str, what: str) -> LatentFn:
    if value is None:
        raise ValueError(
            f"cost term {term!r} needs a {what} callable (z [N, D] -> ...); pass {what}=..."
        )
    return value


COSTS: dict[str, Callable[[CostConfig, CostDeps], Cost]] = {
    "goal_energy": lambda c, d: GoalEnergy(c.goal_norm, c.goal_mode),
    "pose_probe": lambda c, d: PoseGoalProbe(_need(d.probe, "pose_probe", "probe"), c.goal_mode),
    "pose_fk": lambda c, d: PoseGoalFK(d.ee_index, c.goal_mode),
    "cube_push": lambda c, d: CubePush(_need(d.cube_probe, "cube_push", "cube_probe"), d.ee_index,
                                       approach=c.push_approach, behind_m=c.push_behind_m,
                                       push_z_m=c.push_height_m, settle_m=c.push_settle_m,
                                       contact_m=c.push_contact_m, gain=c.push_gain,
                                       deadband_m=c.push_deadband_m, hand_pushes=c.push_hand_pushes,
                                       gripper_max_m=d.gripper_max_m, mode=c.goal_mode),
    "critic": lambda c, d: Critic(_need(d.critic, "critic", "critic"), c.goal_mode),
    "action_magnitude": lambda c, d: ActionMagnitude(),
    "action_rate": lambda c, d: ActionRate(),
}
assert tuple(COSTS) == COST_NAMES, "config.COST_NAMES and registry.COSTS must list the same terms"


def build_cost(name: str, cfg: CostConfig, deps: CostDeps) -> Cost:
    """One cost term by registry name."""
    if name not in COSTS:
        raise KeyError(f"unknown cost term {name!r}; valid: {sorted(COSTS)}")
    return COSTS[name](cfg, deps)


GuardrailBuilder = Callable[[GuardrailConfig, ArmKinematics, ArmControlConfig], "Constraint | None"]


def _tensor(kin: ArmKinematics, values: object) -> torch.Tensor:
    return torch.as_tensor(np.asarray(values, dtype=np.float64), dtype=kin.dtype, device=kin.device)


def _joint_position(g: GuardrailConfig, kin: ArmKinematics, arm: ArmControlConfig) -> Constraint:
    lower, upper = g.joint_limits(kin.lower.cpu().numpy(), kin.upper.cpu().numpy())
    return JointPositionLimit(_tensor(kin, lower), _tensor(kin, upper), g.plan_slack)


def _radii(g: GuardrailConfig, kin: ArmKinematics) -> torch.Tensor:
    by_name = {p.name: p.radius for p in g.check_points}
    return _tensor(kin, [by_name[n] for n in kin.point_names])  # [P] in FK order


def _keep_out(g: GuardrailConfig, kin: ArmKinematics, arm: ArmControlConfig) -> Constraint | None:
    if not g.keep_out:
        return None
    return KeepOut(ZoneSet(g.keep_out, kin.device, kin.dtype), _radii(g, kin), g.plan_slack)


def _zone_speed(g: GuardrailConfig, kin: ArmKinematics, arm: ArmControlConfig) -> Constraint | None:
    if not g.speed_zones:
        return None
    zones = [ZoneSet([s.zone], kin.device, kin.dtype) for s in g.speed_zones]
    return ZoneSpeedLimit(
        zones,
        _tensor(kin, [s.max_speed_m_s for s in g.speed_zones]),
        kin.index(g.ee_point),
        g.plan_slack,
    )


GUARDRAILS: dict[str, GuardrailBuilder] = {
    "joint_position": _joint_position,
    "joint_velocity": lambda g, k, a: JointVelocityLimit(
        _tensor(k, g.max_joint_vel_rad_s), g.plan_slack
    ),
    "joint_acceleration": lambda g, k, a: JointAccelerationLimit(
        _tensor(k, g.max_joint_acc_rad_s2), g.plan_slack
    ),
    "workspace": lambda g, k, a: WorkspaceBox(
        _tensor(k, g.workspace_lo),
        _tensor(k, g.workspace_hi),
        k.index(g.ee_point),
        g.check_points[g.ee_index].radius,
        g.plan_slack,
    ),
    "keep_out": _keep_out,
    "table": lambda g, k, a: TableClearance(g.table_z_m, g.table_margin_m, _radii(g, k), g.plan_slack),
    "zone_speed": _zone_speed,
}


def build_guardrails(
    cfg: GuardrailConfig, kin: ArmKinematics, arm: ArmControlConfig
) -> list[Constraint]:
    """Every guardrail with something to check, in registry order."""
    built = (builder(cfg, kin, arm) for builder in GUARDRAILS.values())
    return [c for c in built if c is not None]


def build_cost_stack(
    cost_cfg: CostConfig,
    guard_cfg: GuardrailConfig,
    kin: ArmKinematics,
    arm: ArmControlConfig,
    *,
    probe: LatentFn | None = None,
    critic: LatentFn | None = None,
    cube_probe: LatentFn | None = None,
) -> CostStack:
    """The configured cost terms (in cost_cfg.terms order, with their weights) plus all guardrails."""
    if tuple(kin.point_names) != tuple(p.name for p in guard_cfg.check_points):
        raise ValueError(f"kinematics points {kin.point_names} differ from the guardrail check points")
    deps = CostDeps(ee_index=kin.index(guard_cfg.ee_point), probe=probe, critic=critic, cube_probe=cube_probe,
                    gripper_max_m=arm.gripper_max_m)
    terms = [(cost_cfg.weight(name), build_cost(name, cost_cfg, deps)) for name in cost_cfg.terms]
    return CostStack(terms, build_guardrails(guard_cfg, kin, arm))
