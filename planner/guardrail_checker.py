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
chord speed when either end of the step is inside), and the same rules along the controller's straight
joint-space motion between consecutive points (SWEPT_SAMPLES sub-steps, finer where the points move more than
SWEPT_SPACING_M between them, the first segment from the measured state; swept_* kinds; speed zones there apply to
every check sphere). Also: no new setpoint when the joint state cannot be trusted (non-finite, wrong shape, out of
limits, bad or stale stamp, or text, bytes, bools where numbers belong), and a hold never moves the arm.

Kinematics are batched (points_many: mj_kinematics per configuration, one gather for all check points; swept_many:
every segment of a command in one pass), so the campaign can check 100,000 cases (docs/robots.md).
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
SWEPT_SAMPLES = 8
"""The oracle checks the controller's straight joint-space motion between two commanded points at this many
sub-steps at least (MuJoCo kinematics at s = 1/8 .. 7/8; the ends are the points themselves). Breaches found there
are reported as swept_* kinds, separately from breaches at the points."""
SWEPT_SPACING_M = 0.01
"""When some check point moves more than this between two of those sub-steps, the oracle samples the segment again,
finer, so that the sub-steps are about this far apart (the moves measured with MuJoCo, no bound taken from the code
under test): a zone's clearance region 1 cm across or more cannot fall between two samples unseen."""
SWEPT_MAX_SAMPLES = 256
"""At most this many sub-steps per segment (a 2.5 m sweep at 1 cm)."""
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


def zone_sdf_many(zone: object, pts: np.ndarray) -> np.ndarray:
    """Signed distance [...] from points [..., 3] to a sphere or box zone (negative inside), vectorised."""
    pts = np.asarray(pts, dtype=np.float64)
    if isinstance(zone, SphereZone):
        return np.sqrt(np.sum((pts - np.asarray(zone.center)) ** 2, axis=-1)) - zone.radius
    assert isinstance(zone, BoxZone)
    lo, hi = np.asarray(zone.lo, dtype=np.float64), np.asarray(zone.hi, dtype=np.float64)
    face = np.maximum(lo - pts, pts - hi)  # [..., 3] > 0 where outside on that axis
    outside = np.sqrt(np.sum(np.maximum(face, 0.0) ** 2, axis=-1))
    return np.where(np.any(face > 0, axis=-1), outside, np.max(face, axis=-1))


def _not_numbers(value: object) -> bool:
    """Text, bytes, bools or complex values, alone or inside lists, tuples or arrays: not joint values or times, even
    where float() or NumPy would convert them (the filter's documented input contract, issue 20)."""
    if isinstance(value, (str, bytes, bool, np.bool_, complex, np.complexfloating)):
        return True
    if isinstance(value, np.ndarray):
        return value.dtype.kind not in "iuf" and (value.dtype.kind != "O" or any(map(_not_numbers, value.flat)))
    return isinstance(value, (list, tuple)) and any(map(_not_numbers, value))


def finite_vector(value: object, length: int) -> np.ndarray | None:
    """value as a float64 [length] array when it is one and finite, else None; text, bytes, bools and complex
    entries make it None (the filter's and the MPC's contract)."""
    if _not_numbers(value):
        return None
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        return None
    return arr if arr.shape == (length,) and bool(np.all(np.isfinite(arr))) else None


def finite_float(value: object) -> float | None:
    """value as a finite float, else None (text, bytes, bools and complex values are no numbers)."""
    if _not_numbers(value):
        return None
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
        # Each check point as (site or body index, offset in its frame), for one gather per configuration.
        frames = [self._frame(p.frame) for p in self.check_points]
        self._site_mask = np.array([is_site for is_site, _ in frames])
        self._frame_idx = np.array([idx for _, idx in frames])
        self._offsets = np.array([np.asarray(p.offset, dtype=np.float64) for p in self.check_points])
        self.radii = np.array([p.radius for p in self.check_points])
        self.names = [p.name for p in self.check_points]
        self.table_mask = np.array([p.table_check for p in self.check_points])

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
        return self.points_many(np.asarray(q, dtype=np.float64)[None])[0]

    def points_many(self, qs: np.ndarray) -> np.ndarray:
        """World positions [S, P, 3] of the check points for S joint vectors qs [S, J]: mj_kinematics per row on the
        private MjData, then one vectorised gather of the frames' poses (no Python loop over points)."""
        qs = np.asarray(qs, dtype=np.float64).reshape(-1, self.dof)
        d, m, n = self.data, self.model, len(qs)
        xpos, xmat = np.empty((n, m.nbody, 3)), np.empty((n, m.nbody, 9))
        spos, smat = np.empty((n, m.nsite, 3)), np.empty((n, m.nsite, 9))
        qpos = np.repeat(m.qpos0[None], n, axis=0)
        qpos[:, self.qpos_adr] = qs
        for i in range(n):  # MuJoCo's own kinematics, one configuration at a time; whole-array copies only
            d.qpos[:] = qpos[i]
            mujoco.mj_kinematics(m, d)
            xpos[i], xmat[i], spos[i], smat[i] = d.xpos, d.xmat, d.site_xpos, d.site_xmat
        s_rows, b_rows = np.flatnonzero(self._site_mask), np.flatnonzero(~self._site_mask)
        pos, mat = np.empty((n, len(self._frame_idx), 3)), np.empty((n, len(self._frame_idx), 9))
        pos[:, s_rows], mat[:, s_rows] = spos[:, self._frame_idx[s_rows]], smat[:, self._frame_idx[s_rows]]
        pos[:, b_rows], mat[:, b_rows] = xpos[:, self._frame_idx[b_rows]], xmat[:, self._frame_idx[b_rows]]
        return pos + np.einsum("spij,pj->spi", mat.reshape(n, -1, 3, 3), self._offsets)

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
        names, radii = self.names, self.radii
        ee, r_ee = pts[self.ee_index], radii[self.ee_index]
        lo, hi = np.asarray(g.workspace_lo) + r_ee, np.asarray(g.workspace_hi) - r_ee
        if np.any(ee < lo - tol) or np.any(ee > hi + tol):
            out.append(Violation("workspace", t, f"EE {np.round(ee, 4).tolist()} outside [{lo}, {hi}]"))
        for zone in g.keep_out:
            d = zone_sdf_many(zone, pts)  # [P]
            for k in np.flatnonzero(d < radii - tol):
                out.append(Violation("keep_out", t, f"{names[k]} at {d[k]:.4f} m from {zone} (needs {radii[k]})"))
        floor = g.table_z_m + g.table_margin_m
        for k in np.flatnonzero(self.table_mask & (pts[:, 2] < floor + radii - tol)):
            out.append(Violation("table", t, f"{names[k]} z={pts[k, 2]:.4f} < {floor + radii[k]:.4f}"))
        if g.speed_zones:
            speed = float(np.linalg.norm(ee - prev_ee)) / dt
            for sz in g.speed_zones:
                # Inside means clearly inside: a point within BAND of the surface may be taken either way.
                inside = min(zone_sdf(sz.zone, ee), zone_sdf(sz.zone, prev_ee)) < -BAND
                if inside and speed > sz.max_speed_m_s + tol:
                    out.append(Violation("zone_speed", t, f"EE {speed:.4f} m/s > {sz.max_speed_m_s} in {sz.zone}"))
        return out

    def swept(
        self, g: GuardrailConfig, q_a: np.ndarray, q_b: np.ndarray, dt: float, t: int, tol: float
    ) -> list[Violation]:
        """The motion between two commanded points: the controller's linear joint interpolation q_a -> q_b over
        one period, at SWEPT_SAMPLES sub-steps. Keep-out, table and workspace as at the points; speed zones for
        every check sphere: its speed over each sub-step while any part of it is inside the zone."""
        return self.swept_many(g, np.asarray(q_a)[None], np.asarray(q_b)[None], dt, [t], tol)

    def _sub_steps(self, q_a: np.ndarray, q_b: np.ndarray, n: int) -> np.ndarray:
        """Check points [S, n+1, P, 3] at s = 0, 1/n, .., 1 along each segment q_a[s] -> q_b[s]."""
        s = np.linspace(0.0, 1.0, n + 1)
        qs = q_a[:, None] + s[None, :, None] * (q_b - q_a)[:, None]  # [S, n+1, J]
        return self.points_many(qs.reshape(-1, self.dof)).reshape(len(q_a), n + 1, -1, 3)

    def swept_many(
        self, g: GuardrailConfig, q_a: np.ndarray, q_b: np.ndarray, dt: float, steps: list[int], tol: float
    ) -> list[Violation]:
        """swept() for S segments q_a[s] -> q_b[s] ([S, J] each; steps[s] names segment s in the violations), with
        one kinematics pass over all their sub-steps and the checks vectorised over segments and sub-steps."""
        q_a, q_b = np.asarray(q_a, dtype=np.float64), np.asarray(q_b, dtype=np.float64)
        moving = ~np.all(q_a == q_b, axis=1)  # a segment that does not move sweeps nothing
        if not np.any(moving):
            return []
        q_a, q_b, steps = q_a[moving], q_b[moving], [t for t, m in zip(steps, moving, strict=True) if m]
        pts = self._sub_steps(q_a, q_b, SWEPT_SAMPLES)  # [S, M+1, P, 3]
        chord = float(np.max(np.linalg.norm(np.diff(pts, axis=1), axis=-1)))  # the longest move between sub-steps
        n = SWEPT_SAMPLES
        if chord > SWEPT_SPACING_M:  # denser: sub-steps about SWEPT_SPACING_M apart (measured, not from a bound)
            n = min(SWEPT_MAX_SAMPLES, math.ceil(SWEPT_SAMPLES * chord / SWEPT_SPACING_M))
            pts = self._sub_steps(q_a, q_b, n)
        inner = pts[:, 1:-1]
        radii, names = self.radii, self.names
        out: list[Violation] = []
        r_ee = radii[self.ee_index]
        ee = inner[:, :, self.ee_index]  # [S, M-1, 3]
        lo, hi = np.asarray(g.workspace_lo) + r_ee, np.asarray(g.workspace_hi) - r_ee
        bad = np.any((ee < lo - tol) | (ee > hi + tol), axis=(1, 2))
        for i in np.flatnonzero(bad):
            out.append(Violation("swept_workspace", steps[i], f"EE between points outside [{lo}, {hi}]"))
        for zone in g.keep_out:
            depth = radii - zone_sdf_many(zone, inner)  # [S, M-1, P] > 0: inside the clearance
            for i in np.flatnonzero(depth.max(axis=(1, 2)) > tol):
                j, k = np.unravel_index(int(np.argmax(depth[i])), depth[i].shape)
                out.append(Violation("swept_keep_out", steps[i], f"{names[k]} {depth[i, j, k]:.4f} m inside the "
                                     f"clearance of {zone} at s={(j + 1) / n:.3f}"))
        floor = g.table_z_m + g.table_margin_m
        low = (floor + radii - inner[..., 2]) * self.table_mask  # [S, M-1, P]
        for i in np.flatnonzero(low.max(axis=(1, 2)) > tol):
            out.append(Violation("swept_table", steps[i], f"{names[int(np.argmax(low[i].max(axis=0)))]} "
                                                          f"{np.max(low[i]):.4f} m too low between points"))
        if g.speed_zones:
            speed = np.linalg.norm(np.diff(pts, axis=1), axis=-1) / (dt / n)  # [S, M, P]
            for sz in g.speed_zones:
                inside = zone_sdf_many(sz.zone, pts) < radii - BAND  # [S, M+1, P]: some part of the sphere inside
                over = (inside[:, 1:] | inside[:, :-1]) * (speed - sz.max_speed_m_s)
                for i in np.flatnonzero(over.max(axis=(1, 2)) > tol):
                    k, fastest = int(np.argmax(over[i].max(axis=0))), float(np.max(over[i])) + sz.max_speed_m_s
                    out.append(Violation("swept_zone_speed", steps[i], f"{names[k]} {fastest:.4f} m/s "
                                                                       f"> {sz.max_speed_m_s} in {sz.zone}"))
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
        measured: np.ndarray | None = None,
    ) -> list[Violation]:
        """Every point of start -> targets [T, J] against every guardrail, and the motion between them.

        measured: where the arm is, when the controller starts the first segment from there rather than from
        `start`; that segment (measured -> targets[0]) is checked too, in the same kinematics pass (step 0).

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
        targets = np.asarray(targets, dtype=np.float64)
        all_pts = self.points_many(np.concatenate([prev_q[None], targets]))  # [T+1, P, 3]
        prev_ee = all_pts[0, self.ee_index]
        prev_step = None if qd0 is None else np.asarray(qd0, dtype=np.float64) * dt
        acc_advisory = qd0 is None
        for t, q in enumerate(targets):
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
            pts = all_pts[t + 1]
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
        starts = np.concatenate([np.asarray(start, dtype=np.float64)[None], targets[:-1]])
        ends, steps = targets, list(range(len(targets)))
        if measured is not None and not np.array_equal(measured, starts[0]):
            starts, ends = np.concatenate([starts, measured[None]]), np.concatenate([ends, targets[:1]])
            steps = steps + [0]
        return out + self.swept_many(g, starts, ends, dt, steps, tol_m)

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
        used_reference: bool | None = None,
    ) -> list[Violation]:
        """One safety-filter output against its inputs and the guardrails (cfg: the filter's config).

        `hold` is the filter's own hold flag (a hold may only stand still). `used_reference`: whether the filter says
        it stepped from the reference (it did not report reference_ignored). It only picks between the two starts
        when the reference sits on the trust threshold (either is right there); it never makes an untrustworthy
        reference a start. Without it, the start with the fewest violations is judged.
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
        if len(starts) == 2 and used_reference is not None:  # on the threshold: judge the start the filter took
            starts = starts[:1] if used_reference else starts[1:]
        qd0, acc_known = self._velocity(cfg, qd_reference)
        best: list[Violation] | None = None
        for start in starts:
            found: list[Violation] = []
            if hold:
                # A hold stands at the start, or at the measured state when the motion to the start would break a
                # guardrail; either way the motion the controller makes from the measured state must be clean.
                measured = np.clip(q, lower, upper)
                if len(out) != 1 or min(np.max(np.abs(out[0] - start)), np.max(np.abs(out[0] - measured))) > TOL_RAD:
                    found.append(Violation("hold_moved", -1, f"hold {out.tolist()} != start {start.tolist()}"))
                else:
                    found += self.swept(g, measured, out[0], arm.control_period_s, 0, TOL_M)
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
                    measured=np.clip(q, lower, upper),  # the controller starts the first segment from where the arm is
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
