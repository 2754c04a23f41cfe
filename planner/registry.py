"""Cost terms and guardrails by name (like nav2's critics list), and the builder of a CostStack from
config.

Unknown names fail loudly and list the valid ones. Guardrails are intrinsic: every one is always built
(those with nothing to check, e.g. no keep-out zones, are skipped), and config only sets their limits. The
Cartesian ones get the robot's motion bound (ArmGuardrails.lever), so they judge the whole segment between two
control points, not just its ends (planner/swept.py).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import torch

from jepa_mpc.planner.action_costs import ActionMagnitude, ActionRate
from jepa_mpc.planner.config import COST_NAMES, ArmGuardrails, CostConfig, GuardrailConfig
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
from jepa_mpc.robots import Robot
from jepa_mpc.robots.arm_control import ArmControlConfig
from jepa_mpc.robots.kinematics import ArmKinematics


@dataclasses.dataclass(frozen=True)
class CostDeps:
    """Run-time objects some cost terms need: learned EE and cube probes, a critic, the EE index in FK points."""

    ee_index: int
    dof: int
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
                                       gripper_max_m=d.gripper_max_m, dof=d.dof, cube_half_m=c.push_cube_half_m,
                                       mode=c.goal_mode),
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


GuardrailBuilder = Callable[[GuardrailConfig, ArmGuardrails, ArmKinematics], "Constraint | None"]


def _tensor(kin: ArmKinematics, values: object) -> torch.Tensor:
    return torch.as_tensor(np.asarray(values, dtype=np.float64), dtype=kin.dtype, device=kin.device)


def _keep_out(g: GuardrailConfig, arm: ArmGuardrails, kin: ArmKinematics) -> Constraint | None:
    if not g.keep_out:
        return None
    return KeepOut(ZoneSet(g.keep_out, kin.device, kin.dtype), _tensor(kin, arm.radii), g.plan_slack,
                   lever=_tensor(kin, arm.lever))


def _table(g: GuardrailConfig, arm: ArmGuardrails, kin: ArmKinematics) -> Constraint:
    index = torch.as_tensor(np.flatnonzero(arm.table_mask), device=kin.device)
    return TableClearance(g.table_z_m, g.table_margin_m, _tensor(kin, arm.radii[arm.table_mask]), index,
                          g.plan_slack, lever=_tensor(kin, arm.lever))


def _zone_speed(g: GuardrailConfig, arm: ArmGuardrails, kin: ArmKinematics) -> Constraint | None:
    if not g.speed_zones:
        return None
    zones = [ZoneSet([s.zone], kin.device, kin.dtype) for s in g.speed_zones]
    return ZoneSpeedLimit(zones, _tensor(kin, [s.max_speed_m_s for s in g.speed_zones]), arm.ee_index,
                          g.plan_slack, lever=_tensor(kin, arm.lever), radii=_tensor(kin, arm.radii))


GUARDRAILS: dict[str, GuardrailBuilder] = {
    "joint_position": lambda g, a, k: JointPositionLimit(_tensor(k, a.lower), _tensor(k, a.upper), g.plan_slack),
    "joint_velocity": lambda g, a, k: JointVelocityLimit(_tensor(k, a.max_velocity), g.plan_slack),
    "joint_acceleration": lambda g, a, k: JointAccelerationLimit(_tensor(k, a.max_acceleration), g.plan_slack),
    "workspace": lambda g, a, k: WorkspaceBox(_tensor(k, g.workspace_lo), _tensor(k, g.workspace_hi), a.ee_index,
                                              float(a.radii[a.ee_index]), g.plan_slack,
                                              lever=_tensor(k, a.lever)),
    "keep_out": _keep_out,
    "table": _table,
    "zone_speed": _zone_speed,
}


def build_guardrails(cfg: GuardrailConfig, arm: ArmGuardrails, kin: ArmKinematics) -> list[Constraint]:
    """Every guardrail with something to check, in registry order."""
    built = (builder(cfg, arm, kin) for builder in GUARDRAILS.values())
    return [c for c in built if c is not None]


def build_cost_stack(
    cost_cfg: CostConfig,
    guard_cfg: GuardrailConfig,
    kin: ArmKinematics,
    arm: ArmControlConfig,
    robot: Robot,
    *,
    probe: LatentFn | None = None,
    critic: LatentFn | None = None,
    cube_probe: LatentFn | None = None,
) -> CostStack:
    """The configured cost terms (in cost_cfg.terms order, with their weights) plus all guardrails."""
    limits = guard_cfg.for_robot(robot)
    if tuple(kin.point_names) != tuple(p.name for p in limits.check_points):
        raise ValueError(f"kinematics points {kin.point_names} differ from the robot's check points")
    deps = CostDeps(ee_index=limits.ee_index, dof=robot.dof, probe=probe, critic=critic, cube_probe=cube_probe,
                    gripper_max_m=arm.gripper_max_m)
    terms = [(cost_cfg.weight(name), build_cost(name, cost_cfg, deps)) for name in cost_cfg.terms]
    return CostStack(terms, build_guardrails(guard_cfg, limits, kin))
