"""Model- and optimiser-independent safety filter: the last check before a joint command reaches the arm.

NumPy + MuJoCo only (no torch, no models/): it re-checks proposed joint targets with the true kinematics
(mj_kinematics of the Robot's model on a private MjData) against the same guardrails, at the tool point and
every check sphere, clamps what can be clamped (joint limits, per-step bound, speed in a zone) and holds
otherwise. Deterministic, and it never raises: any bad input gives a hold command and a SafetyReport saying why.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import math

import mujoco
import numpy as np

from jepa_mpc.planner.config import BoxZone, SafetyConfig, SphereZone, Zone
from jepa_mpc.planner.segment_check import segment_samples
from jepa_mpc.planner.stamps import StampStatus, stamp_age_status
from jepa_mpc.robots import Robot, load_robot
from jepa_mpc.robots.arm_control import integrate_targets

logger = logging.getLogger(__name__)

_REPORT_TOL = (
    1e-9  # clamps smaller than this (float rounding of a full-size step) are applied but not reported
)


class SafetyReason(enum.Enum):
    """Why the filter changed or refused a command."""

    BAD_STATE_SHAPE = "bad_state_shape"
    NON_FINITE_STATE = "non_finite_state"
    STATE_OUT_OF_LIMITS = "state_out_of_limits"
    BAD_STAMP = "bad_stamp"
    STALE_STATE = "stale_state"
    REFERENCE_IGNORED = "reference_ignored"
    VELOCITY_REFERENCE_IGNORED = "velocity_reference_ignored"
    BAD_COMMAND_SHAPE = "bad_command_shape"
    NON_FINITE_COMMAND = "non_finite_command"
    NON_FINITE_GRIPPER = "non_finite_gripper"
    CLAMPED_JOINT_LIMIT = "clamped_joint_limit"
    CLAMPED_STEP = "clamped_step"
    CLAMPED_ACCELERATION = "clamped_acceleration"
    SCALED_FOR_ZONE_SPEED = "scaled_for_zone_speed"
    WORKSPACE_EXIT = "workspace_exit"
    KEEP_OUT = "keep_out"
    TABLE = "table"
    ZONE_SPEED = "zone_speed"
    TRUNCATED = "truncated"
    INTERNAL_ERROR = "internal_error"


@dataclasses.dataclass(frozen=True)
class SafetyCommand:
    """What may be sent: `joint_targets` [T, J]; T == 0 means no new setpoint (no trusted state)."""

    joint_targets: np.ndarray
    gripper: float | None  # gripper action in [-1, 1]; None keeps the gripper as it is
    hold: bool


@dataclasses.dataclass(frozen=True)
class SafetyReport:
    """Why the command is what it is. No reasons means the proposal passed unchanged."""

    reasons: tuple[SafetyReason, ...]
    hold: bool
    n_proposed: int
    n_sent: int

    @property
    def ok(self) -> bool:
        """True when the proposal passed unchanged."""
        return not self.reasons

    def describe(self) -> str:
        """One line for logs and diagnostics."""
        why = ", ".join(r.value for r in self.reasons) or "ok"
        return f"{'HOLD' if self.hold else 'pass'} ({why}); sent {self.n_sent}/{self.n_proposed} points"


_NOT_NUMBERS = (str, bytes, bool, np.bool_, complex, np.complexfloating)
"""Values float() or NumPy would convert, but that are not real numbers: '1.0' is not a time, True is not an angle,
and a complex value would lose its imaginary part (issue 20: strict inputs)."""


def _not_numbers(value: object) -> bool:
    """True when value is, or holds (in lists, tuples or arrays), anything but real numbers."""
    if isinstance(value, _NOT_NUMBERS):
        return True
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "O":
            return any(_not_numbers(v) for v in value.flat)
        return value.dtype.kind not in "iuf"
    if isinstance(value, (list, tuple)):
        return any(_not_numbers(v) for v in value)
    return False


def _as_float(value: object) -> float | None:
    """A finite real number as a float, else None (text, bytes, bools and complex values are refused)."""
    if _not_numbers(value):
        return None
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return None
    return out if math.isfinite(out) else None


def _as_array(value: object) -> np.ndarray | None:
    """value as a float64 array when it holds only real numbers, else None (text, bytes, bools, complex refused)."""
    if _not_numbers(value):
        return None
    try:
        return np.array(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        return None


def _zone_sdf(zone: Zone, points: np.ndarray) -> np.ndarray:
    """Signed distance [N] from points [N, 3] to a zone (negative inside)."""
    if isinstance(zone, SphereZone):
        return np.linalg.norm(points - np.asarray(zone.center), axis=-1) - zone.radius
    assert isinstance(zone, BoxZone)
    center = (np.asarray(zone.lo) + np.asarray(zone.hi)) / 2
    excess = np.abs(points - center) - (np.asarray(zone.hi) - np.asarray(zone.lo)) / 2
    return np.linalg.norm(np.maximum(excess, 0.0), axis=-1) + np.minimum(excess.max(axis=-1), 0.0)


class SafetyFilter:
    """`filter(proposed [T, J], q_measured [J], stamp_s, now_s) -> (SafetyCommand, SafetyReport)` for one Robot
    (model-convention joint vectors, J = robot.dof)."""

    def __init__(self, cfg: SafetyConfig = SafetyConfig(), robot: Robot | str | None = None) -> None:
        self.cfg = cfg
        self.robot = load_robot(robot if robot is not None else "panda")
        self.model = self.robot.model
        self.dof = self.robot.dof
        self._data = mujoco.MjData(self.model)  # private: nothing else writes it
        self._qpos_adr = self.robot.qpos_adr
        limits = cfg.guardrails.for_robot(self.robot)
        self.mjcf_lower, self.mjcf_upper = limits.description_lower, limits.description_upper
        self.lower, self.upper = limits.lower, limits.upper
        self.max_step = cfg.max_step_rad(limits.max_velocity)  # [J]
        dt = cfg.arm.control_period_s
        self.max_step_change = limits.max_acceleration * dt * dt  # [J]
        bodies, offsets = [], []  # each check point as (body, offset in the body frame): one gather per call
        for p in limits.check_points:
            site = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_SITE, p.frame)
            body = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_BODY, p.frame)
            if site < 0 and body < 0:
                raise ValueError(
                    f"check point {p.name!r}: no site or body named {p.frame!r} in the model"
                )
            offset = np.asarray(p.offset, dtype=np.float64)
            if site >= 0:
                rot = np.zeros(9)
                mujoco.mju_quat2Mat(rot, self.model.site_quat[site])
                body, offset = int(self.model.site_bodyid[site]), self.model.site_pos[site] + rot.reshape(3, 3) @ offset
            bodies.append(body)
            offsets.append(offset)
        self._bodies, self._offsets = np.array(bodies), np.array(offsets)  # [P], [P, 3]
        self._radii = limits.radii
        self._table = limits.table_mask
        self._ee = limits.ee_index
        self._lever = limits.lever  # [J, P] motion bound (robots/motion_bound.py): the swept checks

    # ------------------------------------------------------------------------------------ kinematics

    def points(self, q: np.ndarray) -> np.ndarray:
        """True positions [P, 3] of the check points for arm joints q [J] (mj_kinematics)."""
        self._data.qpos[:] = self.model.qpos0
        self._data.qpos[self._qpos_adr] = q
        mujoco.mj_kinematics(self.model, self._data)
        mat = self._data.xmat[self._bodies].reshape(-1, 3, 3)
        return self._data.xpos[self._bodies] + np.einsum("pij,pj->pi", mat, self._offsets)

    def points_many(self, qs: np.ndarray) -> np.ndarray:
        """points() for each row of qs [N, J] -> [N, P, 3]: mj_kinematics per row, one gather and one einsum for all
        (a segment's samples; ~3x cheaper than N points() calls)."""
        d, m = self._data, self.model
        qpos = np.repeat(m.qpos0[None], len(qs), axis=0)
        qpos[:, self._qpos_adr] = qs
        xpos, xmat = np.empty((len(qs), m.nbody, 3)), np.empty((len(qs), m.nbody, 9))
        for i in range(len(qs)):
            d.qpos[:] = qpos[i]
            mujoco.mj_kinematics(m, d)
            xpos[i], xmat[i] = d.xpos, d.xmat
        mat = xmat[:, self._bodies].reshape(len(qs), -1, 3, 3)
        return xpos[:, self._bodies] + np.einsum("npij,pj->npi", mat, self._offsets)

    def violations(self, pts: np.ndarray, extra: np.ndarray | None = None) -> list[SafetyReason]:
        """Keep-out, table and workspace for check points pts [..., P, 3], each needing `extra` [P] metres more
        clearance than its radius (0 at control points; the sample inflation on a segment)."""
        g, out = self.cfg.guardrails, []
        need = self._radii if extra is None else self._radii + extra  # [P]
        ee, r_ee = pts[..., self._ee, :], need[self._ee]
        if np.any(ee < np.asarray(g.workspace_lo) + r_ee) or np.any(ee > np.asarray(g.workspace_hi) - r_ee):
            out.append(SafetyReason.WORKSPACE_EXIT)
        if any(np.any(_zone_sdf(z, pts) < need) for z in g.keep_out):
            out.append(SafetyReason.KEEP_OUT)
        if np.any((pts[..., 2] < g.table_z_m + g.table_margin_m + need) & self._table):
            out.append(SafetyReason.TABLE)
        return out

    def segment_violations(
        self, q_a: np.ndarray, q_b: np.ndarray, pts_a: np.ndarray, pts_b: np.ndarray
    ) -> tuple[list[SafetyReason], float]:
        """Every Cartesian guardrail along the segment q_a -> q_b (what the controller interpolates), ends included.

        Keep-out, table and workspace: at q_b exactly, and at the segment's samples with their inflation
        (planner/segment_check.py), which covers every point in between. Speed zones: each check sphere whose
        swept segment may touch a zone (an end, or a sample within its inflation, closer than its radius) must
        have a path-length bound / period within the zone's limit; that bounds its speed at every instant.
        Returns the reasons and the largest factor (<= 1) by which scaling the step q_b - q_a meets the speed
        zones (the segment's sweep then shrinks, so the set of spheres concerned does not grow).
        """
        g = self.cfg.guardrails
        out = self.violations(pts_b)
        samples = segment_samples(q_a, q_b, self._lever, g.swept_resolution_m)
        swept = self.points_many(samples.q)  # [N, P, 3]
        out += [r for r in self.violations(swept, samples.inflation) if r not in out]
        speed = samples.displacement / self.cfg.arm.control_period_s  # [P] bound on each sphere's speed
        scale = 1.0
        for sz in g.speed_zones:
            near = (_zone_sdf(sz.zone, swept) < self._radii + samples.inflation).any(axis=0)  # [P]
            near |= (_zone_sdf(sz.zone, np.stack([pts_a, pts_b])) < self._radii).any(axis=0)
            fast = near & (speed > sz.max_speed_m_s)
            if fast.any():
                if SafetyReason.ZONE_SPEED not in out:
                    out.append(SafetyReason.ZONE_SPEED)
                scale = min(scale, float(np.min(sz.max_speed_m_s / speed[fast])))
        return out, scale

    # ---------------------------------------------------------------------------------------- filter

    def filter(
        self,
        proposed_targets: object,
        q_measured: object,
        stamp_s: object,
        now_s: object,
        *,
        q_reference: object = None,
        qd_reference: object = None,
        gripper: object = None,
    ) -> tuple[SafetyCommand, SafetyReport]:
        """Check and clamp proposed joint targets [T, J] (or [J]) for the measured q; never raises.

        q_reference: the last command [J] (steps are bounded from it when it is trusted).
        qd_reference: the last command's joint velocity [J] (enables the acceleration bound).
        gripper: gripper action in [-1, 1] (passed through, clipped).
        """
        try:
            return self._filter(
                proposed_targets, q_measured, stamp_s, now_s, q_reference, qd_reference, gripper
            )
        except Exception:  # last line of defence: a filter bug must still yield a hold, loudly
            logger.exception("safety filter failed; holding")
            return self._stop([SafetyReason.INTERNAL_ERROR], 0)

    def filter_actions(
        self,
        actions: object,
        q_measured: object,
        stamp_s: object,
        now_s: object,
        *,
        q_reference: object = None,
        qd_reference: object = None,
    ) -> tuple[SafetyCommand, SafetyReport]:
        """Like filter, for actions [T, A] (J joint steps, then an optional gripper entry) integrated with the arm's
        action semantics."""
        a = _as_array(actions)
        start = _as_array(q_reference if q_reference is not None else q_measured)
        if (
            a is None
            or a.ndim != 2
            or a.shape[1] < self.dof
            or start is None
            or start.shape != (self.dof,)
            or not np.all(np.isfinite(start))
        ):
            return self.filter(
                actions, q_measured, stamp_s, now_s, q_reference=q_reference, qd_reference=qd_reference
            )
        targets = integrate_targets(np.clip(start, self.mjcf_lower, self.mjcf_upper), a, self.mjcf_lower,
                                    self.mjcf_upper, self.cfg.arm)
        grip = a[0, self.dof] if a.shape[1] > self.dof and len(a) else None
        return self.filter(
            targets,
            q_measured,
            stamp_s,
            now_s,
            q_reference=q_reference,
            qd_reference=qd_reference,
            gripper=grip,
        )

    def _hold_point(self, ref: np.ndarray, measured: np.ndarray) -> np.ndarray:
        """Where a hold stands: the last command (ref), unless the controller's motion from the measured state to it
        breaks a Cartesian guardrail (a lagging arm, a zone between); then the measured state (clipped)."""
        if np.array_equal(ref, measured):
            return ref
        bad, _ = self.segment_violations(measured, ref, self.points(measured), self.points(ref))
        return measured if bad else ref

    def _motion(
        self, t: int, prev: np.ndarray, cmd: np.ndarray, prev_pts: np.ndarray, pts: np.ndarray,
        measured: np.ndarray, measured_pts: np.ndarray,
    ) -> tuple[list[SafetyReason], float]:
        """segment_violations of prev -> cmd, plus measured -> cmd for the first point (t == 0)."""
        bad, scale = self.segment_violations(prev, cmd, prev_pts, pts)
        if t == 0 and not np.array_equal(measured, prev):
            more, _ = self.segment_violations(measured, cmd, measured_pts, pts)
            bad += [r for r in more if r not in bad]
        return bad, scale

    def _stop(self, reasons: list[SafetyReason], n: int) -> tuple[SafetyCommand, SafetyReport]:
        command = SafetyCommand(np.zeros((0, self.dof)), None, True)
        return command, SafetyReport(tuple(dict.fromkeys(reasons)), True, n, 0)

    def _hold(
        self, ref: np.ndarray, reasons: list[SafetyReason], n: int
    ) -> tuple[SafetyCommand, SafetyReport]:
        return SafetyCommand(ref.copy()[None], None, True), SafetyReport(
            tuple(dict.fromkeys(reasons)), True, n, 1
        )

    def _filter(
        self,
        proposed: object,
        q_measured: object,
        stamp_s: object,
        now_s: object,
        q_reference: object,
        qd_reference: object,
        gripper: object,
    ) -> tuple[SafetyCommand, SafetyReport]:
        cfg, reasons = self.cfg, []
        p = _as_array(proposed)
        n = int(p.shape[0]) if p is not None and p.ndim == 2 else int(p is not None and p.ndim == 1)
        # 1. The measured state must be trustworthy, or nothing is commanded.
        q = _as_array(q_measured)
        if q is None or q.shape != (self.dof,):
            return self._stop([SafetyReason.BAD_STATE_SHAPE], n)
        if not np.all(np.isfinite(q)):
            return self._stop([SafetyReason.NON_FINITE_STATE], n)
        tol = cfg.state_limit_tol_rad
        if np.any(q < self.lower - tol) or np.any(q > self.upper + tol):
            return self._stop([SafetyReason.STATE_OUT_OF_LIMITS], n)
        age = stamp_age_status(stamp_s, now_s, cfg.max_obs_age_s, cfg.max_future_stamp_s)
        if age in (StampStatus.INVALID, StampStatus.FUTURE):
            return self._stop([SafetyReason.BAD_STAMP], n)
        if age is StampStatus.STALE:
            return self._stop([SafetyReason.STALE_STATE], n)
        ref = np.clip(q, self.lower, self.upper)
        if q_reference is not None:
            r = _as_array(q_reference)
            if (
                r is not None
                and r.shape == (self.dof,)
                and np.all(np.isfinite(r))
                and np.all(r >= self.lower)
                and np.all(r <= self.upper)
                and np.all(np.abs(r - q) <= cfg.max_tracking_error_rad)
            ):
                ref = r
            else:
                reasons.append(SafetyReason.REFERENCE_IGNORED)
        hold_at = self._hold_point(ref, np.clip(q, self.lower, self.upper))
        dt = cfg.arm.control_period_s
        prev_step = None  # the last command's step [J], when its velocity is known and plausible
        if qd_reference is not None:
            v = _as_array(qd_reference)
            if (
                v is not None
                and v.shape == (self.dof,)
                and np.all(np.abs(v) * dt <= self.max_step + 1e-12)
            ):
                prev_step = v * dt
            else:
                reasons.append(SafetyReason.VELOCITY_REFERENCE_IGNORED)
        # 2. The proposal must be a finite [T, J] array.
        if p is not None and p.ndim == 1:
            p = p[None]
        if p is None or p.ndim != 2 or p.shape[0] < 1 or p.shape[1] != self.dof:
            return self._hold(hold_at, reasons + [SafetyReason.BAD_COMMAND_SHAPE], n)
        if not np.all(np.isfinite(p)):
            return self._hold(hold_at, reasons + [SafetyReason.NON_FINITE_COMMAND], n)
        grip = None
        if gripper is not None:
            grip = _as_float(gripper)
            if grip is None:
                reasons.append(SafetyReason.NON_FINITE_GRIPPER)
            else:
                grip = min(max(grip, -1.0), 1.0)
        # 3. Clamp each point into the limits and the per-step bound, then check the motion to it in Cartesian
        # space: the segment from the previous point and, for the first point, also from the measured state (the
        # controller starts from where the arm is).
        measured = np.clip(q, self.lower, self.upper)
        measured_pts = self.points(measured)
        prev, prev_pts, out = ref, self.points(ref), []
        for t, target in enumerate(p):
            clipped = np.clip(target, self.lower, self.upper)
            if np.any(np.abs(clipped - target) > _REPORT_TOL):
                reasons.append(SafetyReason.CLAMPED_JOINT_LIMIT)
            step = np.clip(clipped - prev, -self.max_step, self.max_step)
            if np.any(np.abs(step - (clipped - prev)) > _REPORT_TOL):
                reasons.append(SafetyReason.CLAMPED_STEP)
            if prev_step is not None:  # |step - prev_step| <= max_acc dt^2 (inside the step bound)
                lo = np.maximum(-self.max_step, prev_step - self.max_step_change)
                hi = np.minimum(self.max_step, prev_step + self.max_step_change)
                limited = np.clip(step, lo, hi)
                if np.any(np.abs(limited - step) > _REPORT_TOL):
                    reasons.append(SafetyReason.CLAMPED_ACCELERATION)
                step = limited
            cmd = np.clip(prev + step, self.lower, self.upper)
            pts = self.points(cmd)
            bad, scale = self._motion(t, prev, cmd, prev_pts, pts, measured, measured_pts)
            # Too fast in a slow zone: scale the step down to the zone's speed (then halve it, if the motion from
            # the measured state still is too fast); safety zones and joint limits outrank the acceleration bound.
            for _ in range(cfg.speed_scale_attempts):
                if bad != [SafetyReason.ZONE_SPEED]:
                    break
                step = step * (scale * (1.0 - 1e-9) if scale < 1.0 else 0.5)
                cmd = np.clip(prev + step, self.lower, self.upper)
                pts = self.points(cmd)
                bad, scale = self._motion(t, prev, cmd, prev_pts, pts, measured, measured_pts)
                reasons.append(SafetyReason.SCALED_FOR_ZONE_SPEED)
            if bad:
                reasons.extend(bad)
                if t == 0:
                    return self._hold(hold_at, reasons, n)
                reasons.append(SafetyReason.TRUNCATED)
                break
            out.append(cmd)
            prev_step = cmd - prev if prev_step is not None else None
            prev, prev_pts = cmd, pts
        command = SafetyCommand(np.array(out), grip, False)
        return command, SafetyReport(tuple(dict.fromkeys(reasons)), False, n, len(out))
