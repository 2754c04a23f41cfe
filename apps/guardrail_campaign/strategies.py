"""The Adversary: hypothesis strategies that build cases around the robot and the user's configuration.

Every size that depends on the arm comes from the Robot (ArmGeometry): its joint count, home pose, joint limits,
tool point, shoulder and reach R. Random keep-out zones are centred in the cell box the stack derives from the
reach (planner.config.workspace_for, whatever workspace the user configured), random attack points lie in that
box grown by 0.2 R on every side, and "unreachable" points lie 1.2 R to 5 R from the shoulder. Sizes that are
about motion and clearance, not about the arm's size (zone sizes, steps per point, how far past a limit), stay
in metres and radians.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING

import mujoco
import numpy as np

from jepa_mpc.apps.guardrail_campaign import draws as S  # noqa: N812 - S.floats(...) reads like st.floats(...)
from jepa_mpc.apps.guardrail_campaign.cases import (
    BAD_IMAGES,
    GARBAGE_MODELS,
    FilterCase,
    FilterTick,
    LoopCase,
    LoopTick,
    MpcCase,
)
from jepa_mpc.planner.config import GOAL_MODES, BoxZone, GuardrailConfig, SpeedZone, SphereZone, workspace_for
from jepa_mpc.robots import Robot

if TYPE_CHECKING:
    from jepa_mpc.apps.guardrail_campaign.runners import CampaignSetup

EXTREME_WEIGHTS = (0.0, 1e-12, 1e-3, 1.0, 1e3, 1e12, 1e30, 1e300)
ATTACKS = ("keep_out", "workspace_exit", "table", "unreachable", "random")
TARGET_STRATA = (
    "near",
    *(f"push:{a}" for a in ATTACKS),
    "far",
    "limits",
    "uniform",
    "huge",
    "row",
)
INPUT_STRATA = (
    "q:garbage",
    "q:nan_joint",
    "q:out_of_limits",
    "q:shape",
    "clock:stale",
    "clock:future",
    "clock:edge",
    "clock:nonfinite",
    "clock:jump",
    "proposal:garbage",
    "proposal:nan_row",
    "proposal:wide",
    "proposal:narrow",
    "proposal:3d",
    "proposal:empty",
    "extras:garbage",
    "mixed",
    "mixed",
)
SWEPT_STRATA = ("pass_through", "thin", "fast")
"""filter.swept: a zone that only the motion between two clean points can reach (a small sphere on the segment's
midpoint, a thin box across it), or a speed zone crossed by a full-speed step."""
LOOP_STRATA = ATTACKS
# Strata are ordered so that a small budget (the first few strata) still covers different attacks.
GOAL_STRATA = (
    "ee:keep_out", "image", "ee:nonfinite", "latent", "ee:workspace_exit", "ee:reachable", "ee:table",
    "ee:unreachable", "ee:random",
)  # fmt: skip


def _round_robin(*groups: tuple[str, ...]) -> tuple[str, ...]:
    out: list[str] = []
    for i in range(max(len(g) for g in groups)):
        out += [g[i] for g in groups if i < len(g)]
    return tuple(out)


ADVERSARIAL_STRATA = _round_robin(
    tuple(f"image:{k}" for k in BAD_IMAGES),
    tuple(f"model:{m}" for m in GARBAGE_MODELS),
    ("state", "stamp", "all"),
)

AROUND_CELL = 0.2
"""Random attack points lie in the cell box grown by this many reaches on every side."""
UNREACHABLE = (1.2, 5.0)
"""'Unreachable' points lie this many reaches from the shoulder."""


# ============================================================================================ geometry


@dataclasses.dataclass(frozen=True)
class ArmGeometry:
    """Where the cases aim, from the robot alone (the same numbers whatever the user configured)."""

    dof: int
    home: np.ndarray
    """[J] the robot's home pose."""
    home_tool: np.ndarray
    """[3] its tool point at home."""
    shoulder: np.ndarray
    """[3] the first arm joint's anchor."""
    reach_m: float
    cell_lo: np.ndarray
    """[3] the cell box (planner.config.workspace_for): random zones are centred in it."""
    cell_hi: np.ndarray

    @classmethod
    def of(cls, robot: Robot) -> ArmGeometry:
        lo, hi = workspace_for(robot)
        return cls(
            dof=robot.dof,
            home=np.asarray(robot.home, dtype=np.float64).copy(),
            home_tool=np.asarray(robot.tool_position(robot.home), dtype=np.float64).copy(),
            shoulder=np.asarray(robot.shoulder, dtype=np.float64).copy(),
            reach_m=float(robot.reach_m),
            cell_lo=np.asarray(lo, dtype=np.float64),
            cell_hi=np.asarray(hi, dtype=np.float64),
        )

    @property
    def around_lo(self) -> np.ndarray:
        """[3] lower corner of the box random attack points are drawn in."""
        return self.cell_lo - AROUND_CELL * self.reach_m

    @property
    def around_hi(self) -> np.ndarray:
        return self.cell_hi + AROUND_CELL * self.reach_m


# ============================================================================================ strategies


def _f(lo: float, hi: float) -> S.Spec:
    return S.floats(lo, hi)


def _vec(lo: float, hi: float, n: int) -> S.Spec:
    return S.vectors(lo, hi, n)


def _xyz(v: np.ndarray) -> tuple[float, float, float]:
    return (float(v[0]), float(v[1]), float(v[2]))


def _point_in(draw, lo: np.ndarray, hi: np.ndarray, label: str) -> np.ndarray:
    return np.array([draw(_f(lo[i], hi[i]), label=f"{label} {'xyz'[i]}") for i in range(3)])


def _unit(draw) -> np.ndarray:
    v = draw(_vec(-1.0, 1.0, 3), label="direction")
    n = float(np.linalg.norm(v))
    return v / n if n > 1e-3 else np.array([1.0, 0.0, 0.0])


def garbage(dof: int) -> S.Spec:
    """Values that are no joint vector of a `dof`-joint arm: None, text, containers, NaN/inf, wrong shapes and
    dtypes, ragged lists (some of them `dof` long, so only their contents are wrong)."""
    return S.one_of(
        S.none(),
        S.text(4),
        S.just([]),
        S.just({"q": 1.0}),
        S.just(object()),
        S.lists(S.any_float(), max_size=dof + 2),
        S.lists(S.sampled_from([math.nan, math.inf, -math.inf, 1e300, -1e300, 0.0]), dof, dof),
        S.sampled_from(
            [
                np.zeros((0, dof)),
                np.zeros((2, 3, dof)),
                np.full(dof, np.nan),
                np.ones((dof, 1)),
                np.array(["0.1"] * dof),
                np.zeros(dof, dtype=complex) + 1j,
                [[0.0] * dof, [0.0] * (dof - 1)],
            ]
        ),
    )


class Adversary:
    """Builds cases around the user's configuration (needs the true kinematics to aim at things)."""

    def __init__(self, setup: CampaignSetup) -> None:
        self.setup = setup
        self.robot = setup.robot
        self.dof = self.robot.dof
        self.geometry = ArmGeometry.of(self.robot)
        self.garbage = garbage(self.dof)
        self.g = setup.base_guardrails
        self.truth = setup.truth
        self.lower, self.upper = self.truth.limits(self.g)
        self.mjcf_lower, self.mjcf_upper = self.truth.mjcf_lower, self.truth.mjcf_upper
        self.period = setup.params.safety.arm.control_period_s
        self.max_age = setup.params.safety.max_obs_age_s
        self.max_future = setup.params.safety.max_future_stamp_s
        m = setup.model
        self._data = mujoco.MjData(m)
        self._adr = self.truth.qpos_adr
        frame = self.robot.tool.frame
        site = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_SITE, frame)
        self._ee_body = int(m.site_bodyid[site]) if site >= 0 else m.body(frame).id
        self._tool_site, self._tool_offset = site, np.asarray(self.robot.tool.offset, dtype=np.float64)

    # ------------------------------------------------------------------------------------ geometry

    def ee(self, q: np.ndarray) -> np.ndarray:
        return self.truth.ee(self.g, q)

    def push(self, q: np.ndarray, target: np.ndarray, step_m: float, n: int) -> np.ndarray:
        """Joint targets [n, J] that move the EE `step_m` per point straight at `target` (Jacobian)."""
        m, d = self.setup.model, self._data
        out, q = [], np.asarray(q, dtype=np.float64).copy()
        for _ in range(n):
            d.qpos[:] = m.qpos0
            d.qpos[self._adr] = q
            mujoco.mj_kinematics(m, d)
            mujoco.mj_comPos(m, d)
            if self._tool_site >= 0:  # the tool point, from the kinematics just run
                pos, mat = d.site_xpos[self._tool_site], d.site_xmat[self._tool_site]
            else:
                pos, mat = d.xpos[self._ee_body], d.xmat[self._ee_body]
            ee = pos + mat.reshape(3, 3) @ self._tool_offset
            jac = np.zeros((3, m.nv))
            mujoco.mj_jac(m, d, jac, None, ee, self._ee_body)
            direction = target - ee
            dist = float(np.linalg.norm(direction))
            if dist < 1e-9:
                out.append(q.copy())
                continue
            dq = np.linalg.pinv(jac[:, self.robot.dof_adr]) @ (direction / dist * min(step_m, dist))
            q = q + dq
            out.append(q.copy())
        return np.array(out)

    def attack_point(self, draw, q: np.ndarray, g: GuardrailConfig, kind: str | None = None) -> tuple[str, np.ndarray]:
        """Where an adversarial goal or push aims: into a keep-out zone, out of the workspace, ..."""
        if kind is None:
            kind = draw(S.sampled_from(ATTACKS if g.keep_out else ATTACKS[1:]), label="attack")
        ee = self.ee(q)
        geo = self.geometry
        if kind == "keep_out" and g.keep_out:
            zone = draw(S.sampled_from(g.keep_out), label="zone")
            if isinstance(zone, SphereZone):
                return kind, np.asarray(zone.center, dtype=np.float64)
            return kind, (np.asarray(zone.lo) + np.asarray(zone.hi)) / 2
        if kind == "workspace_exit":
            axis = draw(S.integers(0, 2), label="axis")
            side = draw(S.booleans(), label="high side")
            point = ee.copy()
            bound = (g.workspace_hi if side else g.workspace_lo)[axis]
            point[axis] = bound + (1 if side else -1) * draw(_f(0.0, 0.5), label="beyond")
            return kind, point
        if kind == "table":
            return kind, np.array([ee[0], ee[1], g.table_z_m - draw(_f(0.0, 0.3), label="below")])
        if kind == "unreachable":
            lo, hi = UNREACHABLE
            return kind, geo.shoulder + _unit(draw) * draw(_f(lo * geo.reach_m, hi * geo.reach_m), label="distance")
        return "random", _point_in(draw, geo.around_lo, geo.around_hi, "random")

    def guardrails(self, draw, q: np.ndarray, force_zones: bool = False) -> tuple[GuardrailConfig, str]:
        """The user's guardrails, plus (often) random keep-out and speed zones around the arm."""
        mode = draw(S.sampled_from(["user", "zones", "speed", "zones+speed"]), label="geometry")
        if force_zones and not self.g.keep_out and "zones" not in mode:
            mode += "+zones"
        if mode == "user":
            return self.g, ""
        ee = self.ee(q)
        keep, slow, notes = [], [], []
        if "zones" in mode:
            for _ in range(draw(S.integers(1, 3), label="n zones")):
                size = draw(_f(0.02, 0.3), label="zone size")
                if draw(S.booleans(), label="near EE"):
                    center = ee + _unit(draw) * (size + draw(_f(-0.02, 0.12), label="gap"))
                else:
                    center = _point_in(draw, self.geometry.cell_lo, self.geometry.cell_hi, "zone centre")
                if draw(S.booleans(), label="sphere"):
                    keep.append(SphereZone(_xyz(center), size))
                else:
                    half = size * np.array(draw(_vec(0.3, 1.0, 3), label="aspect"))
                    keep.append(BoxZone(_xyz(center - half), _xyz(center + half)))
            notes.append(f"{len(keep)} keep-out zone(s)")
        if "speed" in mode:
            center = ee + _unit(draw) * draw(_f(0.0, 0.2), label="offset")
            zone = SphereZone(_xyz(center), draw(_f(0.03, 0.4), label="radius"))
            limit = draw(S.sampled_from([0.0, 0.005, 0.02, 0.05, 0.1, 0.3, 1.0]), label="max speed")
            slow.append(SpeedZone(zone, limit))
            notes.append("1 speed zone")
        g = dataclasses.replace(
            self.g, keep_out=self.g.keep_out + tuple(keep), speed_zones=self.g.speed_zones + tuple(slow)
        )
        return g, ", ".join(notes)

    def state(self, draw) -> np.ndarray:
        """A joint state within the (effective) limits: near home, anywhere, or at a limit."""
        kind = draw(S.sampled_from(["home", "anywhere", "limit"]), label="state")
        home, n = self.geometry.home, self.dof
        if kind == "home":
            q = home + draw(_vec(-0.5, 0.5, n), label="dq")
        elif kind == "anywhere":
            q = self.lower + draw(_vec(0.0, 1.0, n), label="fraction") * (self.upper - self.lower)
        else:
            q = home + draw(_vec(-0.2, 0.2, n), label="dq")
            j = draw(S.integers(0, n - 1), label="joint")
            q[j] = self.upper[j] if draw(S.booleans(), label="upper") else self.lower[j]
        return np.clip(q, self.lower, self.upper)

    def clock(self, draw) -> tuple[float, float]:
        """(stamp, now) that are fresh: the stamp a little in the past."""
        now = draw(S.sampled_from([0.0, 100.0, 1.7e9]), label="epoch") + draw(_f(0.0, 10.0), label="t")
        return now - draw(_f(0.0, self.max_age), label="age"), now

    # --------------------------------------------------------------------------------- categories
    # Each category is split into strata (one per kind of attack) that share its budget evenly:
    # hypothesis explores by mutating earlier examples, so within a few hundred examples a free
    # categorical choice can leave some kinds out entirely.

    def filter_targets(self, stratum: str) -> S.Grammar:
        """Targets of one kind (TARGET_STRATA) from a trusted state, around the user's guardrails."""
        n_j = self.dof

        def case(draw) -> FilterCase:
            kind, _, attack = stratum.partition(":")
            q = self.state(draw)
            g, extra = self.guardrails(draw, q, force_zones=attack == "keep_out")
            n = draw(S.integers(1, 6), label="points")
            note = stratum
            if kind == "near":
                steps = np.array([draw(_vec(-0.08, 0.08, n_j), label="step") for _ in range(n)])
                proposal = q + np.cumsum(steps, axis=0)
            elif kind == "push":
                attack, target = self.attack_point(draw, q, g, attack)
                step_m = draw(S.sampled_from([0.002, 0.01, 0.03, 0.05, 0.1, 0.3]), label="step m")
                proposal = self.push(q, target, step_m, n)
                note = f"push {step_m} m/point towards {attack} {np.round(target, 3).tolist()}"
            elif kind == "far":
                proposal = q + np.array([draw(_vec(-1.5, 1.5, n_j), label="offset") for _ in range(n)])
            elif kind == "limits":
                proposal = np.repeat(q[None], n, axis=0)
                j = draw(S.integers(0, n_j - 1), label="joint")
                over = draw(_f(-0.05, 1.0), label="past limit")
                proposal[:, j] = self.upper[j] + over if draw(S.booleans()) else self.lower[j] - over
            elif kind == "uniform":
                fr = np.array([draw(_vec(0.0, 1.0, n_j), label="fraction") for _ in range(n)])
                proposal = self.mjcf_lower + fr * (self.mjcf_upper - self.mjcf_lower)
            elif kind == "huge":
                proposal = q + np.array([draw(_vec(-1e12, 1e12, n_j), label="huge") for _ in range(n)])
            else:  # "row": a single [J] target
                proposal = q + draw(_vec(-0.1, 0.1, n_j), label="step")
            reference = draw(S.sampled_from(["none", "close", "far"]), label="reference")
            q_ref = {
                "none": None,
                "close": np.clip(q + draw(_vec(-0.05, 0.05, n_j), label="ref"), self.lower, self.upper),
                "far": q + draw(_vec(-0.6, 0.6, n_j), label="ref"),
            }[reference]
            max_vel = self.truth.velocity(g)
            velocity = draw(S.sampled_from(["none", "slow", "fast"]), label="velocity")
            qd = None
            if velocity == "slow":  # within the step bound, so the filter trusts it
                bound = self.truth.max_step(self.setup.params.safety) / self.period
                qd = np.clip(draw(_vec(-1.0, 1.0, n_j), label="qd") * bound, -bound * 0.99, bound * 0.99)
            elif velocity == "fast":
                qd = draw(_vec(-3.0, 3.0, n_j), label="qd") * max_vel
            gripper = draw(S.one_of(S.none(), _f(-2.0, 2.0), S.just(math.nan)), label="gripper")
            stamp, now = self.clock(draw)
            measured = q + draw(_vec(-0.01, 0.01, n_j), label="tracking error")
            tick = FilterTick(proposal, measured, stamp, now, q_ref, qd, gripper, note)
            return FilterCase(g, tick, extra)

        return S.Grammar(case)

    def filter_swept(self, stratum: str) -> S.Grammar:
        """Swept cases (SWEPT_STRATA): a clean start, a target one step away, and a zone on the motion between."""
        n_j = self.dof

        def case(draw) -> FilterCase:
            q = self.state(draw)
            step = self.truth.max_step(self.setup.params.safety)
            scale = 1.0 if stratum == "fast" else draw(_f(0.3, 1.0), label="speed")
            target = np.clip(q + scale * step * np.sign(draw(_vec(-1.0, 1.0, n_j), label="direction")),
                             self.lower, self.upper)
            mid = self.truth.points(self.g, (q + target) / 2)  # [P, 3] the check points half-way
            k = draw(S.integers(0, len(mid) - 1), label="point")
            radius = self.truth.check_points[k].radius
            centre = mid[k] + _unit(draw) * radius * draw(_f(0.0, 0.9), label="offset")
            if stratum == "pass_through":
                zone = SphereZone(_xyz(centre), draw(_f(0.002, 0.04), label="zone radius"))
                g = dataclasses.replace(self.g, keep_out=self.g.keep_out + (zone,))
            elif stratum == "thin":
                half = np.full(3, draw(_f(0.02, 0.3), label="extent"))
                half[draw(S.integers(0, 2), label="thin axis")] = draw(_f(0.0005, 0.005), label="thickness")
                g = dataclasses.replace(self.g, keep_out=self.g.keep_out + (BoxZone(_xyz(centre - half),
                                                                                    _xyz(centre + half)),))
            else:  # "fast": a speed zone around the midpoint, crossed at full speed
                zone = SphereZone(_xyz(centre), draw(_f(0.005, 0.1), label="zone radius"))
                limit = draw(S.sampled_from([0.0, 0.01, 0.05, 0.2]), label="max speed")
                g = dataclasses.replace(self.g, speed_zones=self.g.speed_zones + (SpeedZone(zone, limit),))
            proposal = target[None] if draw(S.booleans(), label="one point") else np.stack(
                [target, np.clip(2 * target - q, self.lower, self.upper)])
            reference = None if draw(S.booleans(), label="no reference") else q
            stamp, now = self.clock(draw)
            measured = q + draw(_vec(-0.01, 0.01, n_j), label="tracking error")
            tick = FilterTick(proposal, measured, stamp, now, reference, None, None, f"swept:{stratum}")
            return FilterCase(g, tick, f"swept {stratum} zone on point {k}")

        return S.Grammar(case)

    def filter_inputs(self, stratum: str) -> S.Grammar:
        """One corrupted input (INPUT_STRATA: 'q:nan_joint', 'clock:stale', ...), or all ('mixed')."""
        focus, _, fault = stratum.partition(":")
        n_j = self.dof

        def pick(dimension: str, kinds: list[str], draw) -> str:
            if focus == "mixed":
                return draw(S.sampled_from(kinds), label=f"{dimension} kind")
            return fault if focus == dimension else kinds[0]

        def case(draw) -> FilterCase:
            q = self.state(draw)
            g, extra = (self.g, "") if draw(S.booleans()) else self.guardrails(draw, q)
            q_kind = pick("q", ["ok", "garbage", "nan_joint", "out_of_limits", "shape"], draw)
            q_meas: object = q
            tol = self.setup.params.safety.state_limit_tol_rad
            if q_kind == "garbage":
                q_meas = draw(self.garbage, label="q")
            elif q_kind == "nan_joint":
                q_meas = q.copy()
                q_meas[draw(S.integers(0, n_j - 1))] = draw(S.sampled_from([math.nan, math.inf, -math.inf]))
            elif q_kind == "out_of_limits":
                q_meas = q.copy()
                j = draw(S.integers(0, n_j - 1), label="joint")
                past = draw(S.sampled_from([tol * 0.5, tol * 1.5, tol + 1e-6, 0.3, 3.0, 1e30]), label="past")
                q_meas[j] = self.upper[j] + past if draw(S.booleans()) else self.lower[j] - past
            elif q_kind == "shape":
                q_meas = draw(S.sampled_from([q[:-1], np.r_[q, 0.0], q[None], q[:, None], [*list(q), 0.0]]))
            stamp, now = self.clock(draw)
            t_kind = pick("clock", ["fresh", "stale", "future", "edge", "nonfinite", "jump"], draw)
            stamp_out: object = stamp
            now_out: object = now
            if t_kind == "stale":
                stamp_out = now - self.max_age - draw(_f(1e-6, 1e9), label="late")
            elif t_kind == "future":
                stamp_out = now + self.max_future + draw(_f(1e-6, 1e9), label="early")
            elif t_kind == "edge":
                stamp_out = now - self.max_age * draw(S.sampled_from([0.999999, 1.0, 1.000001]))
            elif t_kind == "nonfinite":
                bad = draw(S.sampled_from([math.nan, math.inf, -math.inf, None, "0.0", [0.0]]))
                stamp_out, now_out = (bad, now) if draw(S.booleans(), label="stamp") else (stamp, bad)
            elif t_kind == "jump":
                now_out = now + draw(S.sampled_from([-1e9, -3600.0, -1.0, -self.period, 3600.0, 1e9]))
            p_kind = pick("proposal", ["ok", "garbage", "nan_row", "wide", "narrow", "3d", "empty"], draw)
            n = draw(S.integers(1, 4), label="points")
            good = q + np.cumsum(np.array([draw(_vec(-0.06, 0.06, n_j)) for _ in range(n)]), axis=0)
            proposal: object = good
            if p_kind == "garbage":
                proposal = draw(self.garbage, label="proposal")
            elif p_kind == "nan_row":
                proposal = good.copy()
                proposal[draw(S.integers(0, n - 1)), draw(S.integers(0, n_j - 1))] = draw(
                    S.sampled_from([math.nan, math.inf, -math.inf])
                )
            elif p_kind == "wide":
                proposal = np.concatenate([good, np.zeros((n, 1))], axis=1)
            elif p_kind == "narrow":
                proposal = good[:, :-1]
            elif p_kind == "3d":
                proposal = good[None]
            elif p_kind == "empty":
                proposal = np.zeros((0, n_j))
            extras = pick("extras", ["ok", "garbage"], draw)
            if extras == "garbage":
                reference = draw(S.one_of(S.just(q + 0.01), self.garbage), label="reference")
                velocity = draw(S.one_of(_vec(-0.3, 0.3, n_j), self.garbage), label="velocity")
                gripper = draw(S.one_of(S.any_float(), self.garbage),
                               label="gripper")
            else:
                reference = draw(S.sampled_from([None, q + 0.01]), label="reference")
                velocity, gripper = None, draw(S.one_of(S.none(), _f(-1.0, 1.0)), label="gripper")
            note = f"q:{q_kind} clock:{t_kind} proposal:{p_kind} extras:{extras}"
            tick = FilterTick(proposal, q_meas, stamp_out, now_out, reference, velocity, gripper, note)
            return FilterCase(g, tick, extra)

        return S.Grammar(case)

    def closed_loop(self, stratum: str) -> S.Grammar:
        """2-8 ticks of a planner pushing towards one kind of target (LOOP_STRATA)."""

        def case(draw) -> LoopCase:
            q0 = self.state(draw)
            g, extra = self.guardrails(draw, q0, force_zones=stratum == "keep_out")
            target_kind, target = self.attack_point(draw, q0, g, stratum)
            ticks = []
            for _ in range(draw(S.integers(2, 8), label="ticks")):
                proposal = draw(S.sampled_from(["push", "push", "near", "far", "same"]), label="plan")
                size = draw(S.sampled_from([0.005, 0.02, 0.05, 0.1, 0.3]), label="size")
                clock = draw(
                    S.sampled_from(["normal"] * 6 + ["stale", "future", "back", "forward", "nan"]),
                    label="clock",
                )
                jump = draw(_f(0.0, 1e4), label="jump")
                slip = draw(S.sampled_from([0.0, 0.002, 0.01, 0.05, 0.3]), label="slip")
                noise = tuple(float(x) for x in draw(_vec(-1.0, 1.0, self.dof), label="noise") * slip)
                points = draw(S.integers(1, 4), label="points")
                velocity = draw(S.booleans(), label="velocity")
                ticks.append(LoopTick(proposal, size, points, clock, jump, noise, velocity))
            return LoopCase(g, q0, target, target_kind, tuple(ticks), extra)

        return S.Grammar(case)

    def mpc(self, stratum: str, adversarial: bool) -> S.Grammar:
        """Full MPC ticks. Goals category: one goal kind (GOAL_STRATA). Adversarial category: one
        fault (ADVERSARIAL_STRATA: a bad image, a garbage model, garbage state, bad stamps, or all),
        so each fault reaches the stage it targets (a bad image meets a valid state and stamp)."""
        have_model = self.setup.world_model is not None
        own_model = self.setup.world_model_label
        user = self.setup.params
        fault, _, detail = stratum.partition(":") if adversarial else ("none", "", "")
        n_j = self.dof

        def case(draw) -> MpcCase:
            q = self.state(draw)
            goal_kind = draw(S.sampled_from(GOAL_STRATA), label="goal") if adversarial else stratum
            g, extra = self.guardrails(draw, q, force_zones=goal_kind == "ee:keep_out")
            model = own_model
            if fault == "model":
                model = detail
            elif fault == "all" or not have_model:
                model = draw(S.sampled_from(GARBAGE_MODELS), label="model")
            optimizer = draw(S.sampled_from([user.mpc.optimizer, "cem", "gradient", "hybrid"]), label="optimizer")
            goal: object
            if goal_kind in ("ee:keep_out", "ee:workspace_exit", "ee:table", "ee:unreachable", "ee:random"):
                attack, goal = self.attack_point(draw, q, g, goal_kind[3:])
                goal_kind = f"ee:{attack}"
            elif goal_kind == "ee:reachable":
                goal = self.ee(q) + draw(_vec(-0.15, 0.15, 3), label="offset")
            elif goal_kind == "ee:nonfinite":
                goal = self.geometry.home_tool.copy()
                goal[1] = draw(S.sampled_from([math.nan, math.inf, -math.inf]))
            elif goal_kind == "image":
                goal = draw(S.sampled_from(["random", "zero", "saturated"]), label="goal image")
            else:
                goal = draw(S.sampled_from(["nan", "huge", "zero"]), label="goal latent")
            base = user.pose_costs if goal_kind.startswith("ee:") else user.image_costs
            terms = list(base.terms)
            if draw(S.booleans(), label="other terms"):
                options = ["goal_energy", "pose_fk", "action_magnitude", "action_rate", "critic"]
                if model == own_model and hasattr(self.setup.world_model, "probe"):
                    options.append("pose_probe")
                terms = draw(
                    S.subsets(options, 1, 4),
                    label="terms",
                )
            critic = None
            if "critic" in terms:
                critic = draw(S.sampled_from(["flail", "nan", "overflow"]), label="critic")
            weights = {}
            if adversarial or draw(S.booleans(), label="extreme weights"):
                for term in ("goal_energy", "pose_probe", "pose_fk", "critic", "action_magnitude"):
                    weights[f"{term}_weight"] = draw(S.sampled_from(EXTREME_WEIGHTS), label=term)
                weights["action_rate_weight"] = draw(S.sampled_from(EXTREME_WEIGHTS), label="rate")
            costs = dataclasses.replace(
                base,
                terms=tuple(terms),
                goal_norm=draw(S.sampled_from(["l1", "l2"]), label="norm"),
                goal_mode=draw(S.sampled_from(GOAL_MODES), label="mode"),
                **weights,
            )
            image = "ok"
            q_meas: object = q
            q_target: object = np.clip(q + draw(_vec(-0.01, 0.01, n_j), label="tracking"), self.lower, self.upper)
            qd_target: object = draw(S.one_of(S.none(), _vec(-0.2, 0.2, n_j)), label="qd_target")
            lag = draw(_f(0.0, user.mpc.max_obs_age_s * 0.9), label="lag")
            if fault == "image":
                image = detail
            elif fault == "all":
                image = draw(S.sampled_from(BAD_IMAGES), label="image")
            if fault in ("state", "all"):
                q_meas = draw(S.one_of(S.just(q), self.garbage), label="q")
                q_target = draw(S.one_of(S.none(), S.just(q_target), S.just(q + 0.5), self.garbage),
                                label="q_target")
                qd_target = draw(S.one_of(S.none(), _vec(-0.5, 0.5, n_j), _vec(-50.0, 50.0, n_j), self.garbage),
                                 label="qd_target")
            if fault in ("stamp", "all"):
                max_age, future = user.mpc.max_obs_age_s, user.safety.max_future_stamp_s
                lag = draw(
                    S.sampled_from([max_age * 1.01, 10.0, 1e9, -1.0, -future * 2, -1e9, math.nan]),
                    label="stamp lag",
                )
            return MpcCase(
                guardrails=g,
                model=model,
                optimizer=optimizer,
                command_steps=draw(S.sampled_from([user.mpc.command_steps, 1, 2, 4]), label="command steps"),
                costs=costs,
                critic=critic,
                goal_kind=goal_kind,
                goal=goal,
                image=image,
                image_seed=draw(S.integers(0, 2**16), label="image seed"),
                q=q_meas,
                q_target=q_target,
                qd_target=qd_target,
                stamp_lag_s=lag,
                ticks=draw(S.integers(1, 3), label="ticks"),
                fault=stratum if adversarial else "none",
                extra=extra,
            )

        return S.Grammar(case)
