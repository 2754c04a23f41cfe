"""Frozen, validated configs for the planner, its costs, its guardrails and the safety filter.

Torch-free on purpose: the safety filter (NumPy only) reads GuardrailConfig and SafetyConfig from here.
Every __post_init__ raises ValueError naming the field and the bad value; derived values are properties.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from jepa_mpc.robots.arm_control import ArmControlConfig
from jepa_mpc.robots.check_points import CheckPoint
from jepa_mpc.robots.motion_bound import robot_motion_bound

OPTIMIZERS = ("cem", "gradient", "hybrid")
DEVICES = ("auto", "cpu", "cuda")
COST_NAMES = ("goal_energy", "pose_probe", "pose_fk", "cube_push", "critic", "action_magnitude", "action_rate")
GOAL_NORMS = ("l1", "l2")
GOAL_MODES = ("terminal", "trajectory", "both", "closest")


def _finite(owner: str, name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{owner}.{name} must be a finite number, got {value!r}")
    return float(value)


def _positive(owner: str, name: str, value: object) -> float:
    if _finite(owner, name, value) <= 0:
        raise ValueError(f"{owner}.{name} must be > 0, got {value!r}")
    return float(value)


def _non_negative(owner: str, name: str, value: object) -> float:
    if _finite(owner, name, value) < 0:
        raise ValueError(f"{owner}.{name} must be >= 0, got {value!r}")
    return float(value)


def _int_at_least(owner: str, name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{owner}.{name} must be an int >= {low}, got {value!r}")
    return value


def _choice(owner: str, name: str, value: object, choices: Sequence[str]) -> str:
    if value not in choices:
        raise ValueError(f"{owner}.{name} must be one of {list(choices)}, got {value!r}")
    return str(value)


def _not_numbers(value: object) -> bool:
    """True for text, bytes and bools, and for sequences holding any: float('0.1') and float(True) would parse, but a
    string or a flag is not a number (issue 20), and a string is iterable ('123' is not three numbers)."""
    if isinstance(value, (str, bytes, bool, np.bool_)):
        return True
    if isinstance(value, np.ndarray):
        return value.dtype.kind not in "iuf"
    return isinstance(value, (list, tuple)) and any(isinstance(v, (str, bytes, bool, np.bool_)) for v in value)


def _joint_vector(owner: str, name: str, value: object) -> tuple[float, ...]:
    """One finite number per arm joint (the length is checked against a Robot when the config is applied)."""
    if _not_numbers(value):
        raise ValueError(f"{owner}.{name} must be one number per arm joint, got {value!r}")
    try:
        values = tuple(float(v) for v in value)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise ValueError(f"{owner}.{name} must be one number per arm joint, got {value!r}") from None
    if not values or not all(math.isfinite(v) for v in values):
        raise ValueError(f"{owner}.{name} must be finite numbers, one per arm joint, got {value!r}")
    return values


def _vector(owner: str, name: str, value: object, length: int) -> tuple[float, ...]:
    if _not_numbers(value):
        raise ValueError(f"{owner}.{name} must be {length} numbers, got {value!r}")
    try:
        values = tuple(float(v) for v in value)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise ValueError(f"{owner}.{name} must be {length} numbers, got {value!r}") from None
    if len(values) != length or not all(math.isfinite(v) for v in values):
        raise ValueError(f"{owner}.{name} must be {length} finite numbers, got {value!r}")
    return values


# ----------------------------------------------------------------------------------------------- zones


@dataclasses.dataclass(frozen=True)
class SphereZone:
    """A ball in the world frame (metres)."""

    center: tuple[float, float, float]
    radius: float

    def __post_init__(self) -> None:
        _vector("SphereZone", "center", self.center, 3)
        _positive("SphereZone", "radius", self.radius)


@dataclasses.dataclass(frozen=True)
class BoxZone:
    """An axis-aligned box in the world frame (metres), lo < hi on every axis."""

    lo: tuple[float, float, float]
    hi: tuple[float, float, float]

    def __post_init__(self) -> None:
        lo, hi = _vector("BoxZone", "lo", self.lo, 3), _vector("BoxZone", "hi", self.hi, 3)
        if not all(a < b for a, b in zip(lo, hi, strict=True)):
            raise ValueError(f"BoxZone.lo must be < hi on every axis, got lo={self.lo} hi={self.hi}")


Zone = SphereZone | BoxZone


def zone_from_text(text: str) -> Zone:
    """`sphere:X,Y,Z,R` or `box:XMIN,YMIN,ZMIN,XMAX,YMAX,ZMAX` (metres, world frame) as a zone; ValueError says the
    expected form."""
    kind, _, numbers = str(text).partition(":")
    try:
        values = [float(v) for v in numbers.split(",")]
    except ValueError:
        values = []
    if kind == "sphere" and len(values) == 4:
        return SphereZone(tuple(values[:3]), values[3])
    if kind == "box" and len(values) == 6:
        return BoxZone(tuple(values[:3]), tuple(values[3:]))
    raise ValueError(f"a zone is sphere:X,Y,Z,R or box:XMIN,YMIN,ZMIN,XMAX,YMAX,ZMAX (metres), got {text!r}")


@dataclasses.dataclass(frozen=True)
class SpeedZone:
    """Inside `zone` the EE speed must stay <= max_speed_m_s (the seeds' knife-near-people rule)."""

    zone: Zone
    max_speed_m_s: float

    def __post_init__(self) -> None:
        if not isinstance(self.zone, (SphereZone, BoxZone)):
            raise ValueError(f"SpeedZone.zone must be a SphereZone or BoxZone, got {self.zone!r}")
        _non_negative("SpeedZone", "max_speed_m_s", self.max_speed_m_s)


# ------------------------------------------------------------------------------------------ guardrails


@dataclasses.dataclass(frozen=True)
class GuardrailConfig:
    """Hard limits on the joint trajectory implied by the actions (planner) and on commands (filter).

    Joint-space values are per arm joint in the robot's model convention; None takes the robot's description.
    The points checked (the tool point and the check spheres) come from the Robot, not from here.
    """

    joint_lower: tuple[float, ...] | None = None
    """Joint position lower limits (rad); None means the description's range (a limit outside it is ignored)."""
    joint_upper: tuple[float, ...] | None = None
    """Joint position upper limits (rad); None means the description's range."""
    joint_margin_rad: float = 0.02
    """The limits are tightened by this much on both sides."""
    max_joint_vel_rad_s: tuple[float, ...] | None = None
    """Joint speed limits; None: the robot's (its description's, or its preset's datasheet values)."""
    max_joint_acc_rad_s2: tuple[float, ...] | None = None
    """Joint acceleration limits; None: the robot's."""
    workspace_lo: tuple[float, float, float] = (-0.3, -0.8, 0.0)
    """End-effector workspace box, lower corner (world frame, metres)."""
    workspace_hi: tuple[float, float, float] = (0.9, 0.8, 1.2)
    keep_out: tuple[Zone, ...] = ()
    """Zones no check point may enter (with its radius), e.g. a person zone."""
    table_z_m: float = 0.0
    table_margin_m: float = 0.01
    """Every table-checked point stays this far (plus its radius) above the table top."""
    speed_zones: tuple[SpeedZone, ...] = ()
    plan_slack: float = 1e-3
    """Planner limits are tightened by this (m or rad) so float32 plans pass the float64 filter."""
    swept_resolution_m: float = 0.01
    """The safety filter samples the segment between two control points so that each sample stands for at most
    this much of any check sphere's path; the zones are inflated by that much (docs/safety.md, "Between control
    points"). Smaller: tighter, slower."""

    def __post_init__(self) -> None:
        owner = "GuardrailConfig"
        for name in ("joint_lower", "joint_upper"):
            if getattr(self, name) is not None:
                _joint_vector(owner, name, getattr(self, name))
        if self.joint_lower is not None and self.joint_upper is not None and (
            len(self.joint_lower) != len(self.joint_upper)
            or not all(lo < hi for lo, hi in zip(self.joint_lower, self.joint_upper, strict=True))
        ):
            raise ValueError(
                f"{owner}.joint_lower must be < joint_upper, got {self.joint_lower} / {self.joint_upper}"
            )
        _non_negative(owner, "joint_margin_rad", self.joint_margin_rad)
        for name in ("max_joint_vel_rad_s", "max_joint_acc_rad_s2"):
            values = getattr(self, name)
            if values is not None and not all(v > 0 for v in _joint_vector(owner, name, values)):
                raise ValueError(f"{owner}.{name} must be positive numbers, got {values!r}")
        lo, hi = (
            _vector(owner, "workspace_lo", self.workspace_lo, 3),
            _vector(owner, "workspace_hi", self.workspace_hi, 3),
        )
        if not all(a < b for a, b in zip(lo, hi, strict=True)):
            raise ValueError(
                f"{owner}.workspace_lo must be < workspace_hi, "
                f"got {self.workspace_lo} / {self.workspace_hi}"
            )
        for zone in self.keep_out:
            if not isinstance(zone, (SphereZone, BoxZone)):
                raise ValueError(f"{owner}.keep_out entries must be SphereZone or BoxZone, got {zone!r}")
        for zone in self.speed_zones:
            if not isinstance(zone, SpeedZone):
                raise ValueError(f"{owner}.speed_zones entries must be SpeedZone, got {zone!r}")
        _finite(owner, "table_z_m", self.table_z_m)
        _non_negative(owner, "table_margin_m", self.table_margin_m)
        _non_negative(owner, "plan_slack", self.plan_slack)
        if _positive(owner, "swept_resolution_m", self.swept_resolution_m) < 1e-4:
            raise ValueError(f"{owner}.swept_resolution_m must be >= 1e-4 m, got {self.swept_resolution_m!r}")

    def for_robot(self, robot) -> ArmGuardrails:
        """These limits applied to one Robot (raises ValueError when a joint vector has the wrong length)."""
        return ArmGuardrails.build(self, robot)


def workspace_for(robot) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """The workspace box a cell gets when nobody configured one: for the embedded Panda GuardrailConfig's documented
    default; for any other arm, with R its reach (robot.reach_m), the axis-aligned box around base + R x [-0.35,
    1.05] along the base's forward axis and R x [-0.9, 0.9] across it, from the table (the base's height) to R above
    the shoulder (for the Panda this rule gives about the documented box)."""
    if robot.cfg.description == "panda" and robot.cfg.base_pos == (0.0, 0.0, 0.0):
        g = GuardrailConfig()
        return g.workspace_lo, g.workspace_hi
    forward = robot.forward[:2]  # the direction the base faces, as the sim cell and the home pose take it
    side = np.array([-forward[1], forward[0]])
    r, base = robot.reach_m, np.asarray(robot.cfg.base_pos, dtype=np.float64)
    corners = np.array([base[:2] + r * (a * forward + b * side) for a in (-0.35, 1.05) for b in (-0.9, 0.9)])
    lo, hi = corners.min(axis=0), corners.max(axis=0)
    top = float(robot.shoulder[2]) + r
    return (float(lo[0]), float(lo[1]), float(base[2])), (float(hi[0]), float(hi[1]), top)


def guardrails_for(robot, **overrides) -> GuardrailConfig:
    """GuardrailConfig for a robot's cell: its derived workspace (workspace_for) and the table at the base's height,
    then any overrides."""
    lo, hi = workspace_for(robot)
    values = {"workspace_lo": lo, "workspace_hi": hi, "table_z_m": float(robot.cfg.base_pos[2])}
    return GuardrailConfig(**{**values, **overrides})


@dataclasses.dataclass(frozen=True)
class ArmGuardrails:
    """A GuardrailConfig applied to one Robot: the per-joint and per-point numbers every check uses."""

    lower: np.ndarray
    """[J] effective joint limits: the configured ones within the description's range, minus the margin."""
    upper: np.ndarray
    description_lower: np.ndarray
    """[J] the description's range (the clamp in the action semantics)."""
    description_upper: np.ndarray
    max_velocity: np.ndarray  # [J]
    max_acceleration: np.ndarray  # [J]
    check_points: tuple[CheckPoint, ...]
    """The tool point first (index 0), then the check spheres."""
    radii: np.ndarray  # [P]
    table_mask: np.ndarray  # [P] bool: the table clearance applies
    lever: np.ndarray
    """[J, P] bound on |d point / d q_j| over all configurations (robots/motion_bound.py): the swept checks."""

    ee_index = 0

    @classmethod
    def build(cls, g: GuardrailConfig, robot) -> ArmGuardrails:
        owner, dof = f"GuardrailConfig for {robot.name}", robot.dof

        def joint_vector(name: str, default: np.ndarray) -> np.ndarray:
            value = getattr(g, name)
            if value is None:
                return np.asarray(default, dtype=np.float64).copy()
            if len(value) != dof:
                raise ValueError(f"{owner}: {name} has {len(value)} values for {dof} arm joints "
                                 f"{list(robot.joint_names)}")
            return np.asarray(value, dtype=np.float64)

        lower = np.maximum(robot.lower, joint_vector("joint_lower", robot.lower)) + g.joint_margin_rad
        upper = np.minimum(robot.upper, joint_vector("joint_upper", robot.upper)) - g.joint_margin_rad
        if not np.all(lower < upper):
            raise ValueError(f"{owner}: joint limits are empty after the margin: {lower} / {upper}")
        points = tuple(robot.check_points)
        return cls(
            lower=lower, upper=upper, description_lower=robot.lower.copy(), description_upper=robot.upper.copy(),
            max_velocity=joint_vector("max_joint_vel_rad_s", robot.max_velocity),
            max_acceleration=joint_vector("max_joint_acc_rad_s2", robot.max_acceleration),
            check_points=points, radii=np.array([p.radius for p in points]),
            table_mask=np.array([p.table_check for p in points]),
            lever=robot_motion_bound(robot, points).lever)


# --------------------------------------------------------------------------------------------- costs


@dataclasses.dataclass(frozen=True)
class CostConfig:
    """Which cost terms the planner sums (in order) and their weights (guardrails are not costs)."""

    terms: tuple[str, ...] = ("goal_energy", "action_magnitude", "action_rate")
    goal_energy_weight: float = 1.0
    goal_norm: str = "l2"
    """l1: mean |z - z_goal|; l2: mean (z - z_goal)^2."""
    goal_mode: str = "terminal"
    """terminal: last predicted latent; trajectory: mean over the horizon; both: their sum; closest: the minimum."""
    pose_probe_weight: float = 1.0
    pose_fk_weight: float = 1.0
    cube_push_weight: float = 1.0
    push_approach: float = 1.0
    """cube_push: weight of the end effector's distance to the pushing spot, relative to the cube's to its goal
    (1.0: 16 of 20 Push goals, 0.5: 14, with the learned model; docs/experiments.md, "Push")."""
    push_behind_m: float = 0.07
    """cube_push: how far behind the cube (away from its goal) the end effector pushes from."""
    push_gain: float = 1.0
    """cube_push: the predicted cube's displacement (after the contact gate) is multiplied by this. A learned model
    predicts about half of a push (the eval sets 1 / the checkpoint's measured share, `jepa-mpc train` measures it);
    taken as it is, a push looked half as useful as it is, and the hand stalled behind the cube."""
    push_height_m: float = 0.05
    """cube_push: end-effector site height while pushing (the closed fingertips then graze the table)."""
    push_settle_m: float = 0.04
    """cube_push: within this distance of its goal (inside the 5 cm success radius) the pull to the pushing spot
    fades linearly into one to keep the hand still (0: never). Near the goal the push line's direction is probe
    noise; a hand that chases it, or pushes on, knocks the delivered cube away (docs/experiments.md, "Push")."""
    push_contact_m: float = 0.06
    """cube_push: predicted cube motion counts only once the planned hand comes within this distance (table
    plane) of the cube, low enough to touch it (0: always). A cube moves only when touched; the learned model's
    cube wobbles whenever the arm moves, which otherwise made holding still the best plan far from the cube.
    6 cm: the cube's half size (2.5 cm) plus the closed fingers, with room for the soft edge."""
    push_deadband_m: float = 0.025
    """cube_push: the goal is a region of this radius (half the 5 cm success radius): the cube's distance counts
    only beyond it, so a delivered cube is left alone. Seed 2's 50 Push goals, before `push_hand_pushes`: 34 with
    2.5 cm, 30 without, 21 with 3.5 cm (the cube then stopped short of the success radius)."""
    push_cube_half_m: float = 0.025
    """cube_push: the cube's half size (the contact gate's height)."""
    push_hand_pushes: bool = True
    """cube_push: count only the part of the predicted push along the hand's travel, while the cube is ahead of
    the hand (a hand pushes, never pulls). Without it the planner picked plans whose predicted cube slid toward
    the goal while the real hand shoved it away (docs/experiments.md, "Push"; seed 2 with the dead band:
    34 -> 43 of 50)."""
    critic_weight: float = 1.0
    action_magnitude_weight: float = 0.01
    action_rate_weight: float = 0.01

    def __post_init__(self) -> None:
        owner = "CostConfig"
        if not isinstance(self.terms, tuple) or len(set(self.terms)) != len(self.terms):
            raise ValueError(f"{owner}.terms must be a tuple of unique names, got {self.terms!r}")
        for term in self.terms:
            _choice(owner, "terms", term, COST_NAMES)
        for term in COST_NAMES:
            _non_negative(owner, f"{term}_weight", getattr(self, f"{term}_weight"))
        for name in ("push_approach", "push_behind_m", "push_settle_m", "push_contact_m", "push_deadband_m",
                     "push_cube_half_m"):
            _non_negative(owner, name, getattr(self, name))
        _finite(owner, "push_height_m", self.push_height_m)
        _positive(owner, "push_gain", self.push_gain)
        if not isinstance(self.push_hand_pushes, bool):
            raise ValueError(f"{owner}.push_hand_pushes must be a bool, got {self.push_hand_pushes!r}")
        _choice(owner, "goal_norm", self.goal_norm, GOAL_NORMS)
        _choice(owner, "goal_mode", self.goal_mode, GOAL_MODES)

    def weight(self, term: str) -> float:
        """Weight of a cost term by registry name."""
        return float(getattr(self, f"{_choice('CostConfig', 'term', term, COST_NAMES)}_weight"))


# ---------------------------------------------------------------------------------------- optimisers


@dataclasses.dataclass(frozen=True)
class CEMConfig:
    """Cross-entropy method: K samples per iteration, E elites, momentum on mean and std, clamped std."""

    num_samples: int = 512
    iterations: int = 3
    num_elites: int = 32
    elite_fraction: float | None = None
    """If set, elites = round(fraction * num_samples) (at least 1) instead of num_elites."""
    momentum: float = 0.1
    """new = momentum * old + (1 - momentum) * elite statistic."""
    init_std: float = 0.5
    min_std: float = 0.05
    max_std: float = 1.0
    seed: int | None = 0

    def __post_init__(self) -> None:
        owner = "CEMConfig"
        _int_at_least(owner, "num_samples", self.num_samples, 3)
        _int_at_least(owner, "iterations", self.iterations, 1)
        _int_at_least(owner, "num_elites", self.num_elites, 1)
        if (
            self.elite_fraction is not None
            and not 0 < _finite(owner, "elite_fraction", self.elite_fraction) <= 1
        ):
            raise ValueError(f"{owner}.elite_fraction must be in (0, 1], got {self.elite_fraction!r}")
        if self.elites > self.num_samples:
            raise ValueError(
                f"{owner}.num_elites must be <= num_samples={self.num_samples}, got {self.elites}"
            )
        if not 0 <= _finite(owner, "momentum", self.momentum) < 1:
            raise ValueError(f"{owner}.momentum must be in [0, 1), got {self.momentum!r}")
        _positive(owner, "init_std", self.init_std)
        _positive(owner, "min_std", self.min_std)
        if _positive(owner, "max_std", self.max_std) < self.min_std:
            raise ValueError(f"{owner}.max_std must be >= min_std={self.min_std}, got {self.max_std!r}")
        if self.seed is not None:
            _int_at_least(owner, "seed", self.seed, 0)

    @property
    def elites(self) -> int:
        """Number of elites per iteration."""
        if self.elite_fraction is not None:
            return max(1, round(self.elite_fraction * self.num_samples))
        return self.num_elites

    @classmethod
    def for_samples(cls, num_samples: int, iterations: int, **kwargs) -> CEMConfig:
        """K samples with an eighth of them as elites, at most 32 (the 32 of K=512 that the results were tuned
        with): what `jepa-mpc eval` plans with for any K."""
        return cls(num_samples=num_samples, iterations=iterations, num_elites=max(1, min(32, num_samples // 8)),
                   **kwargs)


@dataclasses.dataclass(frozen=True)
class GradientConfig:
    """Adam on the actions through predictor and costs; box projection plus a violation penalty."""

    steps: int = 20
    num_candidates: int = 4
    """Parallel restarts on the sample axis; candidate 0 starts exactly at the initial plan."""
    lr: float = 0.1
    init_noise_std: float = 0.3
    penalty_weight: float = 1e3
    """Weight of (violation + violation^2) in the loss (cuRobo: 5e3-1e5); the final check stays hard."""
    seed: int | None = 0

    def __post_init__(self) -> None:
        owner = "GradientConfig"
        _int_at_least(owner, "steps", self.steps, 1)
        _int_at_least(owner, "num_candidates", self.num_candidates, 1)
        _positive(owner, "lr", self.lr)
        _non_negative(owner, "init_noise_std", self.init_noise_std)
        _non_negative(owner, "penalty_weight", self.penalty_weight)
        if self.seed is not None:
            _int_at_least(owner, "seed", self.seed, 0)


@dataclasses.dataclass(frozen=True)
class MPCConfig:
    """The receding-horizon loop: optimiser choice, horizon, retries, time budget, device."""

    optimizer: str = "cem"
    horizon: int = 20
    cem: CEMConfig = CEMConfig()
    gradient: GradientConfig = GradientConfig()
    max_retries: int = 1
    """Extra cold-start solves after an INFEASIBLE one (bounded, like nav2's retry_attempt_limit)."""
    plan_budget_s: float | None = None
    """Anytime deadline per tick for the optimiser (checked between iterations); None: no deadline."""
    command_steps: int = 1
    """How many planned steps go to the safety filter (and on to the arm) per tick."""
    max_obs_age_s: float = 0.25
    """An observation older than this is stale: hold."""
    max_future_stamp_s: float = 0.05
    """An observation stamped further in the future than this is a clock error: hold (it would never go stale)."""
    detour: bool = True
    """Pose goals: when a keep-out zone blocks the tool's straight path, plan to a via point around it
    (planner/detour.py) instead of the goal, so the arm goes around instead of stopping at the zone."""
    detour_clearance_m: float | None = None
    """How far the via points keep the tool point from a zone; None: the largest check sphere of the hand (the tool's
    link and below) plus 1 cm."""
    warm_start: bool = True
    device: str = "auto"
    """auto | cpu | cuda | cuda:N."""
    compile: bool = False
    """torch.compile the rollout and kinematics (mode reduce-overhead, i.e. CUDA graphs, on cuda)."""
    parallel_kinematics: bool = False
    """On cpu, compute each batch's joint path and check points in a second thread while the world model rolls the
    batch out (planner/rollout.py): a plan then uses two cores. Off by default (evaluation runs several planners side
    by side); the mpc node turns it on. Ignored on cuda and under autograd (the gradient planner)."""
    cuda_graph: bool = True
    """On cuda, capture the CEM solve as one CUDA graph and replay it every plan (planner/cuda_graph.py);
    the solve then runs all its iterations (plan_budget_s is checked only between solves). Ignored on cpu."""
    arm: ArmControlConfig = ArmControlConfig()

    def __post_init__(self) -> None:
        owner = "MPCConfig"
        _choice(owner, "optimizer", self.optimizer, OPTIMIZERS)
        _int_at_least(owner, "horizon", self.horizon, 1)
        _int_at_least(owner, "max_retries", self.max_retries, 0)
        if self.plan_budget_s is not None:
            _positive(owner, "plan_budget_s", self.plan_budget_s)
        _int_at_least(owner, "command_steps", self.command_steps, 1)
        if self.command_steps > self.horizon:
            raise ValueError(
                f"{owner}.command_steps must be <= horizon={self.horizon}, got {self.command_steps}"
            )
        _positive(owner, "max_obs_age_s", self.max_obs_age_s)
        _non_negative(owner, "max_future_stamp_s", self.max_future_stamp_s)
        if self.detour_clearance_m is not None:
            _non_negative(owner, "detour_clearance_m", self.detour_clearance_m)
        for name in ("warm_start", "compile", "cuda_graph", "detour", "parallel_kinematics"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{owner}.{name} must be true or false, got {getattr(self, name)!r}")
        if not isinstance(self.device, str) or not (
            self.device in DEVICES or (self.device.startswith("cuda:") and self.device[5:].isdigit())
        ):
            raise ValueError(f"{owner}.device must be auto, cpu, cuda or cuda:N, got {self.device!r}")
        for name, cls in (("cem", CEMConfig), ("gradient", GradientConfig), ("arm", ArmControlConfig)):
            if not isinstance(getattr(self, name), cls):
                raise ValueError(f"{owner}.{name} must be a {cls.__name__}, got {getattr(self, name)!r}")


# --------------------------------------------------------------------------------------------- safety


@dataclasses.dataclass(frozen=True)
class SafetyConfig:
    """The model-independent safety filter: the same guardrails plus staleness and sensor sanity."""

    guardrails: GuardrailConfig = GuardrailConfig()
    arm: ArmControlConfig = ArmControlConfig()
    max_obs_age_s: float = 0.25
    """A joint state older than this is stale: hold."""
    max_future_stamp_s: float = 0.05
    """A joint state stamped further in the future than this is a clock error: hold. The safety_filter and mpc
    nodes reject frames, joint states and plans stamped further ahead too (planner/stamps.py)."""
    state_limit_tol_rad: float = 0.02
    """A measured joint this far outside the limits is still trusted (the hold clips it back in)."""
    max_tracking_error_rad: float = 0.2
    """A reference (last command) further than this from the measured state is ignored."""
    speed_scale_attempts: int = 4
    """Times a step is halved to meet a speed-zone limit before the filter holds instead."""

    def __post_init__(self) -> None:
        owner = "SafetyConfig"
        if not isinstance(self.guardrails, GuardrailConfig) or not isinstance(
            self.arm, ArmControlConfig
        ):
            raise ValueError(f"{owner}.guardrails/arm must be GuardrailConfig/ArmControlConfig")
        _positive(owner, "max_obs_age_s", self.max_obs_age_s)
        _non_negative(owner, "max_future_stamp_s", self.max_future_stamp_s)
        _non_negative(owner, "state_limit_tol_rad", self.state_limit_tol_rad)
        _non_negative(owner, "max_tracking_error_rad", self.max_tracking_error_rad)
        _int_at_least(owner, "speed_scale_attempts", self.speed_scale_attempts, 0)

    def max_step_rad(self, max_velocity: np.ndarray) -> np.ndarray:
        """Per-joint bound on one command step [J]: the action step, tightened by the velocity limit [J]."""
        return np.minimum(self.arm.max_joint_step_rad, np.asarray(max_velocity) * self.arm.control_period_s)
