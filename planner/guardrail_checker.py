"""Independent ground truth for the guardrail campaign: does a command or a plan break a guardrail?

Written from the configuration's documented meaning, not from the code it checks: it shares no code
with planner/safety.py (SafetyFilter), planner/guardrails.py or robots/kinematics.py. Positions
come from MuJoCo's own mj_kinematics of the Robot's model on a private MjData; plans are turned into
joint targets with the arm's action semantics (robots.arm_control.next_joint_targets), i.e. what the
arm is really told.

Checked, per commanded point (and per planned step of an OK plan): joint position limits (MJCF range
within the configured limits, tightened by the margin), the per-step bound (min of the action step
and velocity x period), joint acceleration when the last command's velocity is known, the
end-effector workspace box (with the EE point's radius), keep-out spheres and boxes (every check point
with its clearance radius), the table (every table-checked point, margin plus radius), and speed zones (EE
chord speed when either end of the step is inside). Also: no new setpoint when the joint state
cannot be trusted (non-finite, wrong shape, out of limits, bad or stale stamp), and a hold never
moves the arm.
"""

from __future__ import annotations

import dataclasses
import math

import mujoco
import numpy as np

from jepa_mpc.planner.config import BoxZone, GuardrailConfig, SafetyConfig, SphereZone
from jepa_mpc.robots import Robot, load_robot
from jepa_mpc.robots.arm_control import ArmControlConfig, next_joint_targets

TOL_RAD = 1e-9
"""Joint tolerance for commands (the filter works in float64 on the same numbers)."""
TOL_M = 1e-9
"""Cartesian tolerance for commands (metres; m/s for speeds)."""
TOL_PLAN = 1e-6
"""Tolerance for plans (the planner checks float32 trajectories, tightened by plan_slack = 1e-3)."""
BAND = 1e-9
"""Inputs this close to a threshold (a trust limit, a speed zone's surface) may go either way: float
rounding decides there, so both outcomes are accepted."""


@dataclasses.dataclass(frozen=True)
class Violation:
    """One broken guardrail: what, at which commanded point / plan step (-1: the whole command), why."""

    kind: str
    step: int
    detail: str
    advisory: bool = False
    """True for what the configuration asks but the filter does not promise (not a violation)."""

    def __str__(self) -> str:
        where = "" if self.step < 0 else f" at step {self.step}"
        return f"{'advisory ' if self.advisory else ''}{self.kind}{where}: {self.detail}"


def zone_sdf(zone: object, p: np.ndarray) -> float:
    """Signed distance (m) from point p [3] to a sphere or box zone (negative inside)."""
    if isinstance(zone, SphereZone):
        return float(math.dist(p, zone.center) - zone.radius)
    assert isinstance(zone, BoxZone)
    lo, hi = np.asarray(zone.lo, dtype=np.float64), np.asarray(zone.hi, dtype=np.float64)
    below, above = lo - p, p - hi  # > 0 where p is outside on that side
    gap = np.maximum(np.maximum(below, above), 0.0)
    if np.any(gap > 0):
        return float(np.sqrt(np.sum(gap * gap)))
    return float(np.max(np.maximum(below, above)))  # inside: minus the distance to the nearest face


def finite_vector(value: object, length: int) -> np.ndarray | None:
    """value as a float64 [length] array when it is one and finite, else None."""
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        return None
    return arr if arr.shape == (length,) and bool(np.all(np.isfinite(arr))) else None


def finite_float(value: object) -> float | None:
    """value as a finite float, else None."""
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return None
    return out if math.isfinite(out) else None


def _count(violations: list[Violation]) -> int:
    return sum(not v.advisory for v in violations)


class GroundTruth:
    """True kinematics and the guardrail checks for one Robot (one per campaign; cheap to call per case)."""

    def __init__(self, robot: Robot | str | None = None) -> None:
        self.robot = load_robot(robot if robot is not None else "panda")
        self.model = self.robot.model
        self.data = mujoco.MjData(self.model)
        self.dof = self.robot.dof
        self.check_points = self.robot.check_points
        self.ee_index = [p.name for p in self.check_points].index(self.robot.tool.name)
        ids = [self.model.joint(n).id for n in self.robot.model_joint_names]
        self.qpos_adr = np.array([self.model.jnt_qposadr[j] for j in ids])
        ranges = np.array([self.model.jnt_range[j] for j in ids], dtype=np.float64)
        self.mjcf_lower, self.mjcf_upper = ranges[:, 0].copy(), ranges[:, 1].copy()
        self._frames: dict[str, tuple[bool, int]] = {}

    # ------------------------------------------------------------------------------------ kinematics

    def _frame(self, name: str) -> tuple[bool, int]:
        if name not in self._frames:
            site = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_SITE, name)
            if site >= 0:
                self._frames[name] = (True, site)
            else:
                body = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_BODY, name)
                if body < 0:
                    raise ValueError(f"no site or body named {name!r} in the arm model")
                self._frames[name] = (False, body)
        return self._frames[name]

    def points(self, g: GuardrailConfig, q: np.ndarray) -> np.ndarray:
        """World positions [P, 3] of the robot's check points for arm joints q [J] (mj_kinematics)."""
        self.data.qpos[:] = self.model.qpos0
        self.data.qpos[self.qpos_adr] = q
        mujoco.mj_kinematics(self.model, self.data)
        out = np.empty((len(self.check_points), 3))
        for i, p in enumerate(self.check_points):
            is_site, idx = self._frame(p.frame)
            pos = self.data.site_xpos[idx] if is_site else self.data.xpos[idx]
            mat = (self.data.site_xmat[idx] if is_site else self.data.xmat[idx]).reshape(3, 3)
            out[i] = pos + mat @ np.asarray(p.offset, dtype=np.float64)
        return out

    def ee(self, g: GuardrailConfig, q: np.ndarray) -> np.ndarray:
        """End-effector (tool point) position [3]."""
        return self.points(g, q)[self.ee_index]

    def velocity(self, g: GuardrailConfig) -> np.ndarray:
        """Joint speed limits [J]: the configured ones, else the robot's."""
        return np.asarray(g.max_joint_vel_rad_s if g.max_joint_vel_rad_s is not None else self.robot.max_velocity,
                          dtype=np.float64)

    def acceleration(self, g: GuardrailConfig) -> np.ndarray:
        """Joint acceleration limits [J]: the configured ones, else the robot's."""
        return np.asarray(g.max_joint_acc_rad_s2 if g.max_joint_acc_rad_s2 is not None
                          else self.robot.max_acceleration, dtype=np.float64)

    def limits(self, g: GuardrailConfig) -> tuple[np.ndarray, np.ndarray]:
        """Effective joint limits [J]: the description's range within the configured ones, minus the margin."""
        lower, upper = self.mjcf_lower.copy(), self.mjcf_upper.copy()
        if g.joint_lower is not None:
            lower = np.maximum(lower, np.asarray(g.joint_lower, dtype=np.float64))
        if g.joint_upper is not None:
            upper = np.minimum(upper, np.asarray(g.joint_upper, dtype=np.float64))
        return lower + g.joint_margin_rad, upper - g.joint_margin_rad

    def max_step(self, cfg: SafetyConfig) -> np.ndarray:
        """Per-joint bound on one command step [J]: the action step, and velocity limit x period."""
        return np.minimum(cfg.arm.max_joint_step_rad, self.velocity(cfg.guardrails) * cfg.arm.control_period_s)

    # -------------------------------------------------------------------------------------- checks

    def _cartesian(
        self, g: GuardrailConfig, pts: np.ndarray, prev_ee: np.ndarray, dt: float, t: int, tol: float
    ) -> list[Violation]:
        out: list[Violation] = []
        names = [p.name for p in self.check_points]
        radii = np.array([p.radius for p in self.check_points])
        ee, r_ee = pts[self.ee_index], radii[self.ee_index]
        lo, hi = np.asarray(g.workspace_lo) + r_ee, np.asarray(g.workspace_hi) - r_ee
        if np.any(ee < lo - tol) or np.any(ee > hi + tol):
            out.append(Violation("workspace", t, f"EE {np.round(ee, 4).tolist()} outside [{lo}, {hi}]"))
        for zone in g.keep_out:
            for name, p, r in zip(names, pts, radii, strict=True):
                d = zone_sdf(zone, p)
                if d < r - tol:
                    out.append(Violation("keep_out", t, f"{name} at {d:.4f} m from {zone} (needs {r})"))
        floor = g.table_z_m + g.table_margin_m
        for point, p, r in zip(self.check_points, pts, radii, strict=True):
            if point.table_check and p[2] < floor + r - tol:
                name = point.name
                out.append(Violation("table", t, f"{name} z={p[2]:.4f} < {floor + r:.4f}"))
        speed = float(np.linalg.norm(ee - prev_ee)) / dt
        for sz in g.speed_zones:
            # Inside means clearly inside: a point within BAND of the surface may be taken either way.
            inside = min(zone_sdf(sz.zone, ee), zone_sdf(sz.zone, prev_ee)) < -BAND
            if inside and speed > sz.max_speed_m_s + tol:
                out.append(Violation("zone_speed", t, f"EE {speed:.4f} m/s > {sz.max_speed_m_s} in {sz.zone}"))
        return out

    def check_path(
        self,
        g: GuardrailConfig,
        arm: ArmControlConfig,
        start: np.ndarray,
        targets: np.ndarray,
        *,
        max_step: np.ndarray,
        qd0: np.ndarray | None,
        tol_rad: float,
        tol_m: float,
        acc_exemptions: bool,
        step_kind: str = "step_bound",
    ) -> list[Violation]:
        """Every point of start -> targets [T, J] against every guardrail.

        qd0: the velocity of the step before. With it, acceleration is checked from the first point on;
        without it, from the second point on, as an advisory only (the filter bounds acceleration
        only when it knows the last command's velocity). acc_exemptions: skip the acceleration check
        where the safety filter documents that other rules outrank it (a joint stopped at its limit,
        a step slowed for a speed zone).
        """
        out: list[Violation] = []
        lower, upper = self.limits(g)
        dt = arm.control_period_s
        max_acc = self.acceleration(g)
        prev_q = np.asarray(start, dtype=np.float64)
        prev_ee = self.ee(g, prev_q)
        prev_step = None if qd0 is None else np.asarray(qd0, dtype=np.float64) * dt
        acc_advisory = qd0 is None
        for t, q in enumerate(np.asarray(targets, dtype=np.float64)):
            if np.any(q < lower - tol_rad) or np.any(q > upper + tol_rad):
                j = int(np.argmax(np.maximum(lower - q, q - upper)))
                out.append(
                    Violation(
                        "joint_limit",
                        t,
                        f"joint {j + 1} = {q[j]:.5f} outside [{lower[j]:.5f}, {upper[j]:.5f}]",
                    )
                )
            step = q - prev_q
            if np.any(np.abs(step) > max_step + tol_rad):
                j = int(np.argmax(np.abs(step) - max_step))
                out.append(Violation(step_kind, t, f"joint {j + 1} moves {step[j]:+.5f} rad > {max_step[j]:.5f}"))
            pts = self.points(g, q)
            ee = pts[self.ee_index]
            if prev_step is not None:
                change = np.abs(step - prev_step) / (dt * dt)
                bad = change > max_acc + tol_rad / (dt * dt)
                if acc_exemptions:
                    at_limit = (np.abs(q - lower) <= 1e-12) | (np.abs(q - upper) <= 1e-12)
                    slowed = any(zone_sdf(sz.zone, ee) <= BAND or zone_sdf(sz.zone, prev_ee) <= BAND
                                 for sz in g.speed_zones)
                    bad = bad & ~at_limit & (not slowed)
                if np.any(bad):
                    j = int(np.argmax(np.where(bad, change - max_acc, -np.inf)))
                    out.append(
                        Violation(
                            "joint_acceleration",
                            t,
                            f"joint {j + 1} {change[j]:.3f} rad/s^2 > {max_acc[j]}",
                            advisory=acc_advisory,
                        )
                    )
            out += self._cartesian(g, pts, prev_ee, dt, t, tol_m)
            prev_q, prev_ee, prev_step = q, ee, step
        return out

    def plan_targets(self, arm: ArmControlConfig, q0: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """Joint targets [H, J] that actions [H, A] command from q0 (the simulator's own function)."""
        out, q = [], np.asarray(q0, dtype=np.float64)
        for a in np.asarray(actions, dtype=np.float64):
            q = next_joint_targets(q, a, self.mjcf_lower, self.mjcf_upper, arm)
            out.append(q)
        return np.array(out).reshape(-1, self.dof)

    def check_plan(
        self,
        g: GuardrailConfig,
        arm: ArmControlConfig,
        q0: np.ndarray,
        actions: np.ndarray,
        qd0: np.ndarray | None,
    ) -> list[Violation]:
        """An OK plan: all H steps (joint limits, velocity, acceleration from qd0, Cartesian rules)."""
        actions = np.asarray(actions, dtype=np.float64)
        if actions.ndim != 2 or not np.all(np.isfinite(actions)):
            return [Violation("non_finite_plan", -1, f"OK plan with actions {actions!r}")]
        vel_step = self.velocity(g) * arm.control_period_s
        return self.check_path(
            g,
            arm,
            q0,
            self.plan_targets(arm, q0, actions),
            max_step=vel_step,
            qd0=np.zeros(self.dof) if qd0 is None else qd0,
            tol_rad=TOL_PLAN,
            tol_m=TOL_PLAN,
            acc_exemptions=False,
            step_kind="joint_velocity",
        )

    def check_filter_call(
        self,
        cfg: SafetyConfig,
        *,
        q_measured: object,
        stamp_s: object,
        now_s: object,
        q_reference: object,
        qd_reference: object,
        joint_targets: object,
        gripper: object,
        hold: bool,
    ) -> list[Violation]:
        """One safety-filter output against its inputs and the guardrails (cfg: the filter's config).

        `hold` is the filter's own hold flag (a hold may only stand still).
        """
        g, arm = cfg.guardrails, cfg.arm
        out = np.asarray(joint_targets) if isinstance(joint_targets, np.ndarray) else None
        if out is None or out.ndim != 2 or out.shape[1] != self.dof or out.dtype.kind != "f":
            return [Violation("bad_output", -1, f"joint_targets is {joint_targets!r}")]
        if not np.all(np.isfinite(out)):
            return [Violation("bad_output", -1, f"non-finite joint targets {out.tolist()}")]
        violations: list[Violation] = []
        if gripper is not None and not (
            isinstance(gripper, float) and math.isfinite(gripper) and -1.0 <= gripper <= 1.0
        ):
            violations.append(Violation("bad_output", -1, f"gripper {gripper!r} outside [-1, 1]"))
        lower, upper = self.limits(g)
        # 1. Is the joint state trustworthy? (True, False, or None when an input sits on a threshold.)
        trusted = self._state_trust(cfg, q_measured, stamp_s, now_s, lower, upper)
        if trusted is False:
            if len(out) or not hold:
                violations.append(
                    Violation(
                        "acted_on_untrusted_state",
                        -1,
                        f"sent {len(out)} point(s) (hold={hold}) "
                        f"for q={q_measured!r}, stamp={stamp_s!r}, now={now_s!r}",
                    )
                )
            return violations
        if len(out) == 0:
            return violations  # no new setpoint: always safe
        # Trusted, or on a threshold (None): either way what was sent is checked as for a trusted state.
        q = finite_vector(q_measured, self.dof)
        assert q is not None  # trusted (or borderline) states are finite [J]
        # 2. Where do the steps start? The last command when it is trustworthy, else the measured state.
        starts = self.starts(cfg, q, q_reference, lower, upper)
        qd0, acc_known = self._velocity(cfg, qd_reference)
        best: list[Violation] | None = None
        for start in starts:
            found: list[Violation] = []
            if hold:
                if len(out) != 1 or np.max(np.abs(out[0] - start)) > TOL_RAD:
                    found.append(Violation("hold_moved", -1, f"hold {out.tolist()} != start {start.tolist()}"))
            else:
                found = self.check_path(
                    g,
                    arm,
                    start,
                    out,
                    max_step=self.max_step(cfg),
                    qd0=qd0 if acc_known else None,
                    tol_rad=TOL_RAD,
                    tol_m=TOL_M,
                    acc_exemptions=True,
                )
            if best is None or _count(found) < _count(best):
                best = found
            if not _count(found):
                break
        return violations + (best or [])

    # ---------------------------------------------------------------------------------------- trust

    def _state_trust(
        self,
        cfg: SafetyConfig,
        q_measured: object,
        stamp_s: object,
        now_s: object,
        lower: np.ndarray,
        upper: np.ndarray,
    ) -> bool | None:
        q = finite_vector(q_measured, self.dof)
        stamp, now = finite_float(stamp_s), finite_float(now_s)
        if q is None or stamp is None or now is None:
            return False
        tol = cfg.state_limit_tol_rad
        margin = min(float(np.min(q - (lower - tol))), float(np.min((upper + tol) - q)))
        future = cfg.max_future_stamp_s - (stamp - now)  # >= 0: not too far in the future
        age = cfg.max_obs_age_s - (now - stamp)  # >= 0: fresh enough
        worst = min(margin, future, age)
        if worst < -BAND:
            return False
        return True if worst > BAND else None

    def starts(
        self, cfg: SafetyConfig, q: np.ndarray, q_reference: object, lower: np.ndarray, upper: np.ndarray
    ) -> list[np.ndarray]:
        """Where the filter's steps start: the reference (last command) when it is trustworthy (finite,
        within the limits, within max_tracking_error_rad of the measured q), else the measured q clipped
        into the limits; both near a threshold."""
        measured = np.clip(q, lower, upper)
        r = finite_vector(q_reference, self.dof) if q_reference is not None else None
        if r is None:
            return [measured]
        slack = min(
            float(np.min(r - lower)),
            float(np.min(upper - r)),
            float(np.min(cfg.max_tracking_error_rad - np.abs(r - q))),
        )
        if slack > BAND:
            return [r]
        if slack < -BAND:
            return [measured]
        return [r, measured]

    def _velocity(self, cfg: SafetyConfig, qd_reference: object) -> tuple[np.ndarray | None, bool]:
        if qd_reference is None:
            return None, False
        v = finite_vector(qd_reference, self.dof)
        if v is None:
            return None, False
        slack = float(np.min(self.max_step(cfg) - np.abs(v) * cfg.arm.control_period_s))
        return (v, True) if slack > BAND else (None, False)  # borderline: acceleration not checked
