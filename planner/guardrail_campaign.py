"""`jepa-mpc guardrail-test`: a property-based campaign against the planner and the safety filter.

With the user's limits and zones (read from the same YAML parameter file the ROS nodes use),
hypothesis generates random and adversarial cases:

- filter.targets: joint targets near, far, beyond the joint limits, huge, or pushed by the Jacobian
  towards a keep-out zone, out of the workspace or into the table; random extra keep-out and
  speed-zone geometry placed around the arm; references and velocities that are trustworthy or not.
- filter.inputs: corrupted inputs: NaN / inf / wrong-shape / out-of-limit joint states, references,
  velocities, grippers and proposals; stale, future, non-finite stamps and time jumps.
- filter.closed_loop: several ticks where the arm follows what was sent (with tracking noise and
  slips), the planner keeps pushing, and the clock jumps back and forth.
- mpc.goals: the full MPC tick (encode -> small CEM -> final check -> safety filter) with the
  checkpoint's world model: goals inside keep-out zones, outside the workspace, unreachable, below
  the table, NaN; image and latent goals; extreme cost weights; adversarial critics.
- mpc.adversarial: the same tick with garbage world models (NaN, inf, huge, action-dependent
  garbage), corrupted images (NaN / inf floats, all-zero, saturated, wrong size, dtype or channels,
  empty), corrupted joint states and stale or future stamps.

The property of every case: everything the safety filter outputs, and every OK plan the MPC returns,
passes an independent checker (planner.guardrail_checker: true kinematics with mj_kinematics, the
simulator's action semantics). The plan of an MPC case also goes through a second filter configured
like the `safety_filter` node, as /planned_trajectory does in the ROS graph. A violating case is
shrunk by hypothesis to a minimal counterexample. The exit status is 1 when anything violated a
guardrail.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import logging
import math
import pathlib
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import mujoco
import numpy as np
import torch
import yaml
from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from jepa_mpc.planner import safety as safety_module
from jepa_mpc.planner.config import (
    GOAL_MODES,
    BoxZone,
    CEMConfig,
    CostConfig,
    GradientConfig,
    GuardrailConfig,
    MPCConfig,
    SafetyConfig,
    SpeedZone,
    SphereZone,
)
from jepa_mpc.planner.guardrail_checker import DOF, GroundTruth, Violation, finite_float, finite_vector
from jepa_mpc.planner.safety import SafetyReason
from jepa_mpc.planner.types import PlanStatus
from jepa_mpc.sim.panda_scene import HOME_QPOS, load_model

logger = logging.getLogger(__name__)

FILTER_CATEGORIES = ("filter.targets", "filter.inputs", "filter.closed_loop")
MPC_CATEGORIES = ("mpc.goals", "mpc.adversarial")
CATEGORIES = FILTER_CATEGORIES + MPC_CATEGORIES
FILTER_SHARES = {"filter.targets": 0.45, "filter.inputs": 0.25, "filter.closed_loop": 0.30}
DEFAULT_MPC_FRACTION = 0.03
CAMPAIGN_HORIZON = 4
GARBAGE_MODELS = ("nan", "inf", "-inf", "huge", "mixed", "noise")
EXTREME_WEIGHTS = (0.0, 1e-12, 1e-3, 1.0, 1e3, 1e12, 1e30, 1e300)
SHRINK_BUDGET_S = 60.0
BAD_IMAGES = (
    "float_nan", "empty", "small", "zero", "saturated", "float_inf", "uint16", "gray", "rgba", "bool",
    "large", "flat", "strided",
)  # fmt: skip
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
_IGNORED_ROS_PARAMS = ("use_sim_time", "qos_overrides", "start_type_description_service")


# ============================================================================================ parameters


@dataclasses.dataclass(frozen=True)
class CampaignParams:
    """The configuration under test: the safety filter's (authoritative) and the MPC's."""

    safety: SafetyConfig
    """As the safety_filter node builds it."""
    mpc: MPCConfig
    """As the mpc node builds it (the campaign shrinks samples, horizon, iterations; keeps the rest)."""
    image_costs: CostConfig
    pose_costs: CostConfig
    planner_guardrails: GuardrailConfig
    checkpoint: str = ""
    """The mpc node's checkpoint parameter ('' = the shipped checkpoint)."""
    source: str = "planner defaults"
    warnings: tuple[str, ...] = ()

    @classmethod
    def defaults(cls) -> CampaignParams:
        """The planner's own defaults (no YAML, no ROS needed)."""
        g = GuardrailConfig()
        return cls(
            safety=SafetyConfig(guardrails=g),
            mpc=MPCConfig(),
            image_costs=CostConfig(terms=("goal_energy", "action_magnitude", "action_rate")),
            pose_costs=CostConfig(terms=("pose_fk", "action_magnitude", "action_rate")),
            planner_guardrails=g,
        )


def _flatten_ros(block: object, prefix: str, out: dict[str, object]) -> None:
    """Nested ros__parameters dicts -> dotted names, as rcl reads a parameter file."""
    if isinstance(block, Mapping):
        for key, value in block.items():
            _flatten_ros(value, f"{prefix}{key}.", out)
    else:
        out[prefix[:-1]] = block


def node_parameters(doc: Mapping, node: str) -> tuple[dict[str, object], dict[str, object]]:
    """(all values that apply to `node`, values from blocks naming `node` itself), in file order.

    A block applies when its key is `/**` or `/*` (every node) or ends with the node's name
    (`safety_filter`, `/safety_filter`, `/**/safety_filter`, `/ns/safety_filter`); later blocks override.
    """
    merged: dict[str, object] = {}
    own: dict[str, object] = {}
    for key, block in doc.items():
        if not isinstance(block, Mapping) or "ros__parameters" not in block:
            continue
        name = str(key).strip("/").split("/")[-1]
        if name not in ("**", "*", node):
            continue
        flat: dict[str, object] = {}
        _flatten_ros(block["ros__parameters"] or {}, "", flat)
        merged.update(flat)
        if name == node:
            own.update(flat)
    return merged, own


def load_params(path: str | pathlib.Path) -> CampaignParams:
    """Read a ROS 2 YAML parameter file the way the nodes do and build the configs they build.

    Uses the nodes' own config classes (SafetyFilterNodeConfig, MpcNodeConfig, GuardrailParams) and
    ros_nodes.params.build, so this cannot drift from the nodes; those modules import rclpy, so reading a
    parameter file needs the ROS Python packages (`pip install .[ros]` or a sourced ROS install).
    Raises ValueError on values the nodes would reject, FileNotFoundError on a missing file.
    """
    path = pathlib.Path(path)
    with open(path, encoding="utf-8") as fh:
        doc = yaml.safe_load(fh) or {}
    if not isinstance(doc, Mapping):
        raise ValueError(f"{path}: expected a mapping of node names to ros__parameters")  # noqa: TRY004
    try:
        from jepa_mpc.ros_nodes.mpc_node import MpcNodeConfig
        from jepa_mpc.ros_nodes.params import build, flatten
        from jepa_mpc.ros_nodes.safety_filter_node import SafetyFilterNodeConfig
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise RuntimeError(
            f"reading {path} needs the ROS 2 Python packages that the node configs import ({exc}); "
            "install them (pip install .[ros]) or source a ROS 2 install"
        ) from exc
    warnings: list[str] = []
    configs = {}
    for node, cls in (("safety_filter", SafetyFilterNodeConfig), ("mpc", MpcNodeConfig)):
        values, own = node_parameters(doc, node)
        known = set(flatten(cls))
        for name in sorted(set(values) - known):
            if name.startswith(_IGNORED_ROS_PARAMS):
                continue
            if name in own or name.startswith("guardrails."):
                warnings.append(f"{node}: unknown parameter {name!r} is ignored (a typo?)")
        try:
            configs[node] = build(cls, values)
        except ValueError as exc:
            raise ValueError(f"{path}: {node} parameters rejected: {exc}") from exc
    sf, mpc_node = configs["safety_filter"], configs["mpc"]
    mpc_cfg, image_costs, pose_costs, planner_guardrails = mpc_node.to_planner_configs()
    return CampaignParams(
        safety=sf.safety_config(),
        mpc=mpc_cfg,
        image_costs=image_costs,
        pose_costs=pose_costs,
        planner_guardrails=planner_guardrails,
        checkpoint=str(mpc_node.checkpoint),
        source=str(path),
        warnings=tuple(warnings),
    )


# ======================================================================== world models under test


class GarbageWorldModel:
    """A world model whose predictions are garbage: NaN, inf, -inf, huge, per-sample mixes, noise."""

    def __init__(self, mode: str, latent_dim: int = 16, action_dim: int = 8) -> None:
        self.mode, self.latent_dim, self.action_dim = mode, latent_dim, action_dim

    def encode(self, image: torch.Tensor, proprio: torch.Tensor | None = None) -> torch.Tensor:
        """The image's mean brightness, broadcast (finite for any uint8 image)."""
        level = image.float().mean(dim=tuple(range(1, image.ndim)))  # [B]
        return level[:, None].expand(-1, self.latent_dim).clone()

    def rollout(self, z0: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        shape = (*actions.shape[:2], self.latent_dim)
        fixed = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf, "huge": 1e30}
        if self.mode in fixed:
            return torch.full(shape, fixed[self.mode]) + 0 * actions.sum()
        if self.mode == "noise":  # huge, action-dependent, finite: a landscape with no relation to reality
            return torch.sin(actions.sum(-1, keepdim=True) * 1e3).expand(shape) * 1e6
        a0 = actions[:, :1, :1]  # "mixed": decided by each sample's first action (stable on re-evaluation)
        z = (actions.sum(-1, keepdim=True) * 1e3).expand(shape)
        z = torch.where(a0 > 0.3, torch.full_like(z, math.nan), z)
        z = torch.where(a0 < -0.3, torch.full_like(z, math.inf), z)
        return torch.where((a0 > 0.1) & (a0 <= 0.3), torch.full_like(z, 1e30), z)


def _critic(kind: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """Adversarial trainable-cost stand-ins over latents z [N, D]."""
    if kind == "flail":  # rewards large latents, i.e. anything that moves a lot
        return lambda z: -1e3 * z.abs().sum(-1)
    if kind == "nan":
        return lambda z: torch.where(z[..., 0] > 0, torch.full_like(z[..., 0], math.nan), z[..., 0])
    return lambda z: -z.pow(2).sum(-1) * 1e30  # "overflow": -inf for most samples


# ================================================================================================ setup


@dataclasses.dataclass
class CampaignSetup:
    """Everything a campaign needs, built once."""

    params: CampaignParams
    model: mujoco.MjModel
    truth: GroundTruth
    world_model: Any | None
    checkpoint_name: str
    image_size: int = 64
    proprio_dim: int = 0
    """Joint positions the world model's encoder reads beside the image (0: image only)."""

    @classmethod
    def build(
        cls,
        params: CampaignParams,
        *,
        checkpoint: str | None = None,
        world_model: Any | None = None,
        load_world_model: bool = True,
    ) -> CampaignSetup:
        """Load the MuJoCo model and the world model (checkpoint arg > params > shipped)."""
        model = load_model()
        name = "none"
        if world_model is not None:
            name = type(world_model).__name__
        elif load_world_model:
            from jepa_mpc.models.shipped import resolve_checkpoint  # entry point: may import downward
            from jepa_mpc.models.world_model import WorldModel

            path = resolve_checkpoint(checkpoint if checkpoint is not None else params.checkpoint)
            world_model = WorldModel.from_checkpoint(path, device="cpu").eval()
            name = str(path)
        encoder_cfg = getattr(getattr(world_model, "cfg", None), "encoder", None)
        size, proprio_dim = int(getattr(encoder_cfg, "image_size", 64)), int(getattr(encoder_cfg, "proprio_dim", 0))
        return cls(params, model, GroundTruth(model), world_model, name, size, proprio_dim)

    def proprio(self, q: object) -> np.ndarray | None:
        """What a proprioceptive encoder reads for arm joints q: q, then open fingers (the Panda's 0.04 m). A
        malformed q (the campaign sends those on purpose) becomes all-NaN, which the planner must refuse."""
        if not self.proprio_dim:
            return None
        try:
            with np.errstate(over="ignore"):  # a huge reading becomes inf, which is what it is
                arm = np.asarray(q, dtype=np.float32).reshape(-1)
        except (TypeError, ValueError):
            return np.full(self.proprio_dim, np.nan, np.float32)
        if arm.size > self.proprio_dim:
            return np.full(self.proprio_dim, np.nan, np.float32)
        return np.r_[arm, np.full(self.proprio_dim - arm.size, 0.04)].astype(np.float32)

    @property
    def base_guardrails(self) -> GuardrailConfig:
        return self.params.safety.guardrails

    def campaign_mpc_config(self, optimizer: str, command_steps: int) -> MPCConfig:
        """The user's MPC config with a small, fast optimiser (K=64, H=4, one iteration)."""
        user = self.params.mpc
        return dataclasses.replace(
            user,
            optimizer=optimizer,
            horizon=CAMPAIGN_HORIZON,
            command_steps=min(command_steps, CAMPAIGN_HORIZON),
            max_retries=min(user.max_retries, 1),
            plan_budget_s=None,
            device="cpu",
            compile=False,
            cem=CEMConfig(num_samples=64, iterations=1, num_elites=8, seed=0),
            gradient=GradientConfig(steps=2, num_candidates=2, seed=0),
        )


# ============================================================================================ the cases


def _fmt(value: object, limit: int = 400) -> str:
    if isinstance(value, np.ndarray):
        text = np.array2string(value, precision=5, max_line_width=120, threshold=60)
        text = f"array({value.dtype}, shape={list(value.shape)}) {text}"
    elif isinstance(value, GuardrailConfig):
        text = f"keep_out={value.keep_out}, speed_zones={value.speed_zones}"
    else:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclasses.dataclass(frozen=True)
class FilterTick:
    """One call of SafetyFilter.filter."""

    proposal: object
    q_measured: object
    stamp_s: object
    now_s: object
    q_reference: object = None
    qd_reference: object = None
    gripper: object = None
    note: str = ""


@dataclasses.dataclass(frozen=True)
class FilterCase:
    """One filter call (targets, inputs) with its guardrails (the user's plus random extra geometry)."""

    guardrails: GuardrailConfig
    tick: FilterTick
    extra: str = ""

    def describe(self) -> str:
        t = self.tick
        lines = [f"guardrails: user's + {self.extra or 'nothing'}", f"  {_fmt(self.guardrails)}"]
        for name in (
            "note",
            "proposal",
            "q_measured",
            "stamp_s",
            "now_s",
            "q_reference",
            "qd_reference",
            "gripper",
        ):
            lines.append(f"{name}: {_fmt(getattr(t, name))}")
        return "\n".join(lines)


@dataclasses.dataclass(frozen=True)
class LoopTick:
    """One tick of a closed loop: what the planner proposes and what the clock and the arm do."""

    proposal: str  # push | near | far | same
    size: float  # push: metres per point; near/far: radians
    points: int
    clock: str  # normal | stale | future | back | forward | nan
    jump_s: float
    noise: tuple[float, ...]  # tracking error of the arm [7] (rad)
    use_velocity: bool


@dataclasses.dataclass(frozen=True)
class LoopCase:
    """Several filter ticks; the arm follows what was sent."""

    guardrails: GuardrailConfig
    q0: np.ndarray
    target: np.ndarray  # the point the pushing planner drives the EE towards [3]
    target_kind: str
    ticks: tuple[LoopTick, ...]
    extra: str = ""

    def describe(self) -> str:
        lines = [
            f"guardrails: user's + {self.extra or 'nothing'}",
            f"  {_fmt(self.guardrails)}",
            f"q0: {_fmt(self.q0)}",
            f"push target ({self.target_kind}): {_fmt(self.target)}",
        ]
        lines += [f"tick {i}: {t}" for i, t in enumerate(self.ticks)]
        return "\n".join(lines)


@dataclasses.dataclass(frozen=True)
class MpcCase:
    """One to three MPC ticks with a world model, goal, costs and inputs chosen to break things."""

    guardrails: GuardrailConfig
    model: str  # checkpoint | one of GARBAGE_MODELS
    optimizer: str
    command_steps: int
    costs: CostConfig
    critic: str | None
    goal_kind: str
    goal: object  # ee position [3] | image kind | latent kind
    image: str  # image kind
    image_seed: int
    q: object
    q_target: object
    qd_target: object
    stamp_lag_s: float  # now - stamp (negative: stamp in the future; nan: non-finite stamp)
    ticks: int
    fault: str = "none"  # what an adversarial case corrupts: image | model | state | stamp | all
    extra: str = ""

    def describe(self) -> str:
        lines = [f"guardrails: user's + {self.extra or 'nothing'}", f"  {_fmt(self.guardrails)}"]
        for f in dataclasses.fields(self):
            if f.name not in ("guardrails", "extra"):
                lines.append(f"{f.name}: {_fmt(getattr(self, f.name))}")
        return "\n".join(lines)


@dataclasses.dataclass
class Outcome:
    """What one case did: interventions by kind, violations, and an exception if one escaped."""

    interventions: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    violations: list[Violation] = dataclasses.field(default_factory=list)
    advisories: list[Violation] = dataclasses.field(default_factory=list)
    error: str | None = None
    trace: list[str] = dataclasses.field(default_factory=list)

    def add(self, found: Iterable[Violation], label: str) -> None:
        """File the checker's findings (violations, advisories) under `label`."""
        for v in found:
            v = dataclasses.replace(v, detail=f"{label}: {v.detail}")
            (self.advisories if v.advisory else self.violations).append(v)

    def record(self, report: object) -> None:
        """Count a SafetyReport's reasons (or 'pass') and whether it held or stopped."""
        if report.ok:  # type: ignore[attr-defined]
            self.interventions["pass"] += 1
        for reason in report.reasons:  # type: ignore[attr-defined]
            self.interventions[reason.value] += 1
        if report.n_sent == 0:  # type: ignore[attr-defined]
            self.interventions["stop (no setpoint)"] += 1
        elif report.hold:  # type: ignore[attr-defined]
            self.interventions["hold"] += 1


# ========================================================================================== strategies


def _f(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


def _vec(lo: float, hi: float, n: int = DOF) -> st.SearchStrategy[np.ndarray]:
    return st.lists(_f(lo, hi), min_size=n, max_size=n).map(lambda v: np.array(v, dtype=np.float64))


def _xyz(v: np.ndarray) -> tuple[float, float, float]:
    return (float(v[0]), float(v[1]), float(v[2]))


def _unit(draw) -> np.ndarray:
    v = draw(_vec(-1.0, 1.0, 3), label="direction")
    n = float(np.linalg.norm(v))
    return v / n if n > 1e-3 else np.array([1.0, 0.0, 0.0])


GARBAGE = st.one_of(
    st.none(),
    st.text(max_size=4),
    st.just([]),
    st.just({"q": 1.0}),
    st.just(object()),
    st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=9),
    st.lists(st.sampled_from([math.nan, math.inf, -math.inf, 1e300, -1e300, 0.0]), min_size=7, max_size=7),
    st.sampled_from(
        [
            np.zeros((0, 7)),
            np.zeros((2, 3, 7)),
            np.full(7, np.nan),
            np.ones((7, 1)),
            np.array(["0.1"] * 7),
            np.zeros(7, dtype=complex) + 1j,
            [[0.0] * 7, [0.0] * 6],
        ]
    ),
)


class Adversary:
    """Builds cases around the user's configuration (needs the true kinematics to aim at things)."""

    def __init__(self, setup: CampaignSetup) -> None:
        self.setup = setup
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
        ee = self.g.check_points[self.g.ee_index]
        site = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_SITE, ee.frame)
        self._ee_body = int(m.site_bodyid[site]) if site >= 0 else m.body(ee.frame).id

    # ------------------------------------------------------------------------------------ geometry

    def ee(self, q: np.ndarray) -> np.ndarray:
        return self.truth.ee(self.g, q)

    def push(self, q: np.ndarray, target: np.ndarray, step_m: float, n: int) -> np.ndarray:
        """Joint targets [n, 7] that move the EE `step_m` per point straight at `target` (Jacobian)."""
        m, d = self.setup.model, self._data
        out, q = [], np.asarray(q, dtype=np.float64).copy()
        for _ in range(n):
            d.qpos[:] = m.qpos0
            d.qpos[self._adr] = q
            mujoco.mj_kinematics(m, d)
            mujoco.mj_comPos(m, d)
            ee = self.truth.ee(self.g, q)
            jac = np.zeros((3, m.nv))
            mujoco.mj_jac(m, d, jac, None, ee, self._ee_body)
            direction = target - ee
            dist = float(np.linalg.norm(direction))
            if dist < 1e-9:
                out.append(q.copy())
                continue
            dq = np.linalg.pinv(jac[:, self._adr]) @ (direction / dist * min(step_m, dist))
            q = q + dq
            out.append(q.copy())
        return np.array(out)

    def attack_point(self, draw, q: np.ndarray, g: GuardrailConfig, kind: str | None = None) -> tuple[str, np.ndarray]:
        """Where an adversarial goal or push aims: into a keep-out zone, out of the workspace, ..."""
        if kind is None:
            kind = draw(st.sampled_from(ATTACKS if g.keep_out else ATTACKS[1:]), label="attack")
        ee = self.ee(q)
        if kind == "keep_out" and g.keep_out:
            zone = draw(st.sampled_from(g.keep_out), label="zone")
            if isinstance(zone, SphereZone):
                return kind, np.asarray(zone.center, dtype=np.float64)
            return kind, (np.asarray(zone.lo) + np.asarray(zone.hi)) / 2
        if kind == "workspace_exit":
            axis = draw(st.integers(0, 2), label="axis")
            side = draw(st.booleans(), label="high side")
            point = ee.copy()
            bound = (g.workspace_hi if side else g.workspace_lo)[axis]
            point[axis] = bound + (1 if side else -1) * draw(_f(0.0, 0.5), label="beyond")
            return kind, point
        if kind == "table":
            return kind, np.array([ee[0], ee[1], g.table_z_m - draw(_f(0.0, 0.3), label="below")])
        if kind == "unreachable":
            return kind, _unit(draw) * draw(_f(1.2, 5.0), label="distance")
        return "random", np.array([draw(_f(-0.5, 1.0)), draw(_f(-0.9, 0.9)), draw(_f(-0.2, 1.3))])

    def guardrails(self, draw, q: np.ndarray, force_zones: bool = False) -> tuple[GuardrailConfig, str]:
        """The user's guardrails, plus (often) random keep-out and speed zones around the arm."""
        mode = draw(st.sampled_from(["user", "zones", "speed", "zones+speed"]), label="geometry")
        if force_zones and not self.g.keep_out and "zones" not in mode:
            mode += "+zones"
        if mode == "user":
            return self.g, ""
        ee = self.ee(q)
        keep, slow, notes = [], [], []
        if "zones" in mode:
            for _ in range(draw(st.integers(1, 3), label="n zones")):
                size = draw(_f(0.02, 0.3), label="zone size")
                if draw(st.booleans(), label="near EE"):
                    center = ee + _unit(draw) * (size + draw(_f(-0.02, 0.12), label="gap"))
                else:
                    center = np.array([draw(_f(-0.3, 0.9)), draw(_f(-0.8, 0.8)), draw(_f(0.0, 1.0))])
                if draw(st.booleans(), label="sphere"):
                    keep.append(SphereZone(_xyz(center), size))
                else:
                    half = size * np.array(draw(_vec(0.3, 1.0, 3), label="aspect"))
                    keep.append(BoxZone(_xyz(center - half), _xyz(center + half)))
            notes.append(f"{len(keep)} keep-out zone(s)")
        if "speed" in mode:
            center = ee + _unit(draw) * draw(_f(0.0, 0.2), label="offset")
            zone = SphereZone(_xyz(center), draw(_f(0.03, 0.4), label="radius"))
            limit = draw(st.sampled_from([0.0, 0.005, 0.02, 0.05, 0.1, 0.3, 1.0]), label="max speed")
            slow.append(SpeedZone(zone, limit))
            notes.append("1 speed zone")
        g = dataclasses.replace(
            self.g, keep_out=self.g.keep_out + tuple(keep), speed_zones=self.g.speed_zones + tuple(slow)
        )
        return g, ", ".join(notes)

    def state(self, draw) -> np.ndarray:
        """A joint state within the (effective) limits: near home, anywhere, or at a limit."""
        kind = draw(st.sampled_from(["home", "anywhere", "limit"]), label="state")
        if kind == "home":
            q = HOME_QPOS + draw(_vec(-0.5, 0.5), label="dq")
        elif kind == "anywhere":
            q = self.lower + draw(_vec(0.0, 1.0), label="fraction") * (self.upper - self.lower)
        else:
            q = HOME_QPOS + draw(_vec(-0.2, 0.2), label="dq")
            j = draw(st.integers(0, DOF - 1), label="joint")
            q[j] = self.upper[j] if draw(st.booleans(), label="upper") else self.lower[j]
        return np.clip(q, self.lower, self.upper)

    def clock(self, draw) -> tuple[float, float]:
        """(stamp, now) that are fresh: the stamp a little in the past."""
        now = draw(st.sampled_from([0.0, 100.0, 1.7e9]), label="epoch") + draw(_f(0.0, 10.0), label="t")
        return now - draw(_f(0.0, self.max_age), label="age"), now

    # --------------------------------------------------------------------------------- categories
    # Each category is split into strata (one per kind of attack) that share its budget evenly:
    # hypothesis explores by mutating earlier examples, so within a few hundred examples a free
    # categorical choice can leave some kinds out entirely.

    def filter_targets(self, stratum: str) -> st.SearchStrategy[FilterCase]:
        """Targets of one kind (TARGET_STRATA) from a trusted state, around the user's guardrails."""

        @st.composite
        def case(draw) -> FilterCase:
            kind, _, attack = stratum.partition(":")
            q = self.state(draw)
            g, extra = self.guardrails(draw, q, force_zones=attack == "keep_out")
            n = draw(st.integers(1, 6), label="points")
            note = stratum
            if kind == "near":
                steps = np.array([draw(_vec(-0.08, 0.08), label="step") for _ in range(n)])
                proposal = q + np.cumsum(steps, axis=0)
            elif kind == "push":
                attack, target = self.attack_point(draw, q, g, attack)
                step_m = draw(st.sampled_from([0.002, 0.01, 0.03, 0.05, 0.1, 0.3]), label="step m")
                proposal = self.push(q, target, step_m, n)
                note = f"push {step_m} m/point towards {attack} {np.round(target, 3).tolist()}"
            elif kind == "far":
                proposal = q + np.array([draw(_vec(-1.5, 1.5), label="offset") for _ in range(n)])
            elif kind == "limits":
                proposal = np.repeat(q[None], n, axis=0)
                j = draw(st.integers(0, DOF - 1), label="joint")
                over = draw(_f(-0.05, 1.0), label="past limit")
                proposal[:, j] = self.upper[j] + over if draw(st.booleans()) else self.lower[j] - over
            elif kind == "uniform":
                fr = np.array([draw(_vec(0.0, 1.0), label="fraction") for _ in range(n)])
                proposal = self.mjcf_lower + fr * (self.mjcf_upper - self.mjcf_lower)
            elif kind == "huge":
                proposal = q + np.array([draw(_vec(-1e12, 1e12), label="huge") for _ in range(n)])
            else:  # "row": a single [7] target
                proposal = q + draw(_vec(-0.1, 0.1), label="step")
            reference = draw(st.sampled_from(["none", "close", "far"]), label="reference")
            q_ref = {
                "none": None,
                "close": np.clip(q + draw(_vec(-0.05, 0.05), label="ref"), self.lower, self.upper),
                "far": q + draw(_vec(-0.6, 0.6), label="ref"),
            }[reference]
            max_vel = np.asarray(g.max_joint_vel_rad_s)
            velocity = draw(st.sampled_from(["none", "slow", "fast"]), label="velocity")
            qd = None
            if velocity == "slow":  # within the step bound, so the filter trusts it
                bound = self.truth.max_step(self.setup.params.safety) / self.period
                qd = np.clip(draw(_vec(-1.0, 1.0), label="qd") * bound, -bound * 0.99, bound * 0.99)
            elif velocity == "fast":
                qd = draw(_vec(-3.0, 3.0), label="qd") * max_vel
            gripper = draw(st.one_of(st.none(), _f(-2.0, 2.0), st.just(math.nan)), label="gripper")
            stamp, now = self.clock(draw)
            measured = q + draw(_vec(-0.01, 0.01), label="tracking error")
            tick = FilterTick(proposal, measured, stamp, now, q_ref, qd, gripper, note)
            return FilterCase(g, tick, extra)

        return case()

    def filter_inputs(self, stratum: str) -> st.SearchStrategy[FilterCase]:
        """One corrupted input (INPUT_STRATA: 'q:nan_joint', 'clock:stale', ...), or all ('mixed')."""
        focus, _, fault = stratum.partition(":")

        def pick(dimension: str, kinds: list[str], draw) -> str:
            if focus == "mixed":
                return draw(st.sampled_from(kinds), label=f"{dimension} kind")
            return fault if focus == dimension else kinds[0]

        @st.composite
        def case(draw) -> FilterCase:
            q = self.state(draw)
            g, extra = (self.g, "") if draw(st.booleans()) else self.guardrails(draw, q)
            q_kind = pick("q", ["ok", "garbage", "nan_joint", "out_of_limits", "shape"], draw)
            q_meas: object = q
            tol = self.setup.params.safety.state_limit_tol_rad
            if q_kind == "garbage":
                q_meas = draw(GARBAGE, label="q")
            elif q_kind == "nan_joint":
                q_meas = q.copy()
                q_meas[draw(st.integers(0, DOF - 1))] = draw(st.sampled_from([math.nan, math.inf, -math.inf]))
            elif q_kind == "out_of_limits":
                q_meas = q.copy()
                j = draw(st.integers(0, DOF - 1), label="joint")
                past = draw(st.sampled_from([tol * 0.5, tol * 1.5, tol + 1e-6, 0.3, 3.0, 1e30]), label="past")
                q_meas[j] = self.upper[j] + past if draw(st.booleans()) else self.lower[j] - past
            elif q_kind == "shape":
                q_meas = draw(st.sampled_from([q[:6], np.r_[q, 0.0], q[None], q[:, None], [*list(q), 0.0]]))
            stamp, now = self.clock(draw)
            t_kind = pick("clock", ["fresh", "stale", "future", "edge", "nonfinite", "jump"], draw)
            stamp_out: object = stamp
            now_out: object = now
            if t_kind == "stale":
                stamp_out = now - self.max_age - draw(_f(1e-6, 1e9), label="late")
            elif t_kind == "future":
                stamp_out = now + self.max_future + draw(_f(1e-6, 1e9), label="early")
            elif t_kind == "edge":
                stamp_out = now - self.max_age * draw(st.sampled_from([0.999999, 1.0, 1.000001]))
            elif t_kind == "nonfinite":
                bad = draw(st.sampled_from([math.nan, math.inf, -math.inf, None, "0.0", [0.0]]))
                stamp_out, now_out = (bad, now) if draw(st.booleans(), label="stamp") else (stamp, bad)
            elif t_kind == "jump":
                now_out = now + draw(st.sampled_from([-1e9, -3600.0, -1.0, -self.period, 3600.0, 1e9]))
            p_kind = pick("proposal", ["ok", "garbage", "nan_row", "wide", "narrow", "3d", "empty"], draw)
            n = draw(st.integers(1, 4), label="points")
            good = q + np.cumsum(np.array([draw(_vec(-0.06, 0.06)) for _ in range(n)]), axis=0)
            proposal: object = good
            if p_kind == "garbage":
                proposal = draw(GARBAGE, label="proposal")
            elif p_kind == "nan_row":
                proposal = good.copy()
                proposal[draw(st.integers(0, n - 1)), draw(st.integers(0, DOF - 1))] = draw(
                    st.sampled_from([math.nan, math.inf, -math.inf])
                )
            elif p_kind == "wide":
                proposal = np.concatenate([good, np.zeros((n, 1))], axis=1)
            elif p_kind == "narrow":
                proposal = good[:, :6]
            elif p_kind == "3d":
                proposal = good[None]
            elif p_kind == "empty":
                proposal = np.zeros((0, DOF))
            extras = pick("extras", ["ok", "garbage"], draw)
            if extras == "garbage":
                reference = draw(st.one_of(st.just(q + 0.01), GARBAGE), label="reference")
                velocity = draw(st.one_of(_vec(-0.3, 0.3), GARBAGE), label="velocity")
                gripper = draw(st.one_of(st.floats(allow_nan=True, allow_infinity=True), GARBAGE), label="gripper")
            else:
                reference = draw(st.sampled_from([None, q + 0.01]), label="reference")
                velocity, gripper = None, draw(st.one_of(st.none(), _f(-1.0, 1.0)), label="gripper")
            note = f"q:{q_kind} clock:{t_kind} proposal:{p_kind} extras:{extras}"
            tick = FilterTick(proposal, q_meas, stamp_out, now_out, reference, velocity, gripper, note)
            return FilterCase(g, tick, extra)

        return case()

    def closed_loop(self, stratum: str) -> st.SearchStrategy[LoopCase]:
        """2-8 ticks of a planner pushing towards one kind of target (LOOP_STRATA)."""

        @st.composite
        def case(draw) -> LoopCase:
            q0 = self.state(draw)
            g, extra = self.guardrails(draw, q0, force_zones=stratum == "keep_out")
            target_kind, target = self.attack_point(draw, q0, g, stratum)
            ticks = []
            for _ in range(draw(st.integers(2, 8), label="ticks")):
                proposal = draw(st.sampled_from(["push", "push", "near", "far", "same"]), label="plan")
                size = draw(st.sampled_from([0.005, 0.02, 0.05, 0.1, 0.3]), label="size")
                clock = draw(
                    st.sampled_from(["normal"] * 6 + ["stale", "future", "back", "forward", "nan"]),
                    label="clock",
                )
                jump = draw(_f(0.0, 1e4), label="jump")
                slip = draw(st.sampled_from([0.0, 0.002, 0.01, 0.05, 0.3]), label="slip")
                noise = tuple(float(x) for x in draw(_vec(-1.0, 1.0), label="noise") * slip)
                points = draw(st.integers(1, 4), label="points")
                velocity = draw(st.booleans(), label="velocity")
                ticks.append(LoopTick(proposal, size, points, clock, jump, noise, velocity))
            return LoopCase(g, q0, target, target_kind, tuple(ticks), extra)

        return case()

    def mpc(self, stratum: str, adversarial: bool) -> st.SearchStrategy[MpcCase]:
        """Full MPC ticks. Goals category: one goal kind (GOAL_STRATA). Adversarial category: one
        fault (ADVERSARIAL_STRATA: a bad image, a garbage model, garbage state, bad stamps, or all),
        so each fault reaches the stage it targets (a bad image meets a valid state and stamp)."""
        have_checkpoint = self.setup.world_model is not None
        user = self.setup.params
        fault, _, detail = stratum.partition(":") if adversarial else ("none", "", "")

        @st.composite
        def case(draw) -> MpcCase:
            q = self.state(draw)
            goal_kind = draw(st.sampled_from(GOAL_STRATA), label="goal") if adversarial else stratum
            g, extra = self.guardrails(draw, q, force_zones=goal_kind == "ee:keep_out")
            model = "checkpoint"
            if fault == "model":
                model = detail
            elif fault == "all" or not have_checkpoint:
                model = draw(st.sampled_from(GARBAGE_MODELS), label="model")
            optimizer = draw(st.sampled_from([user.mpc.optimizer, "cem", "gradient", "hybrid"]), label="optimizer")
            goal: object
            if goal_kind in ("ee:keep_out", "ee:workspace_exit", "ee:table", "ee:unreachable", "ee:random"):
                attack, goal = self.attack_point(draw, q, g, goal_kind[3:])
                goal_kind = f"ee:{attack}"
            elif goal_kind == "ee:reachable":
                goal = self.ee(q) + draw(_vec(-0.15, 0.15, 3), label="offset")
            elif goal_kind == "ee:nonfinite":
                goal = np.array([0.5, draw(st.sampled_from([math.nan, math.inf, -math.inf])), 0.3])
            elif goal_kind == "image":
                goal = draw(st.sampled_from(["random", "zero", "saturated"]), label="goal image")
            else:
                goal = draw(st.sampled_from(["nan", "huge", "zero"]), label="goal latent")
            base = user.pose_costs if goal_kind.startswith("ee:") else user.image_costs
            terms = list(base.terms)
            if draw(st.booleans(), label="other terms"):
                options = ["goal_energy", "pose_fk", "action_magnitude", "action_rate", "critic"]
                if model == "checkpoint" and hasattr(self.setup.world_model, "probe"):
                    options.append("pose_probe")
                terms = draw(
                    st.lists(st.sampled_from(options), min_size=1, max_size=4, unique=True),
                    label="terms",
                )
            critic = None
            if "critic" in terms:
                critic = draw(st.sampled_from(["flail", "nan", "overflow"]), label="critic")
            weights = {}
            if adversarial or draw(st.booleans(), label="extreme weights"):
                for term in ("goal_energy", "pose_probe", "pose_fk", "critic", "action_magnitude"):
                    weights[f"{term}_weight"] = draw(st.sampled_from(EXTREME_WEIGHTS), label=term)
                weights["action_rate_weight"] = draw(st.sampled_from(EXTREME_WEIGHTS), label="rate")
            costs = dataclasses.replace(
                base,
                terms=tuple(terms),
                goal_norm=draw(st.sampled_from(["l1", "l2"]), label="norm"),
                goal_mode=draw(st.sampled_from(GOAL_MODES), label="mode"),
                **weights,
            )
            image = "ok"
            q_meas: object = q
            q_target: object = np.clip(q + draw(_vec(-0.01, 0.01), label="tracking"), self.lower, self.upper)
            qd_target: object = draw(st.one_of(st.none(), _vec(-0.2, 0.2)), label="qd_target")
            lag = draw(_f(0.0, user.mpc.max_obs_age_s * 0.9), label="lag")
            if fault == "image":
                image = detail
            elif fault == "all":
                image = draw(st.sampled_from(BAD_IMAGES), label="image")
            if fault in ("state", "all"):
                q_meas = draw(st.one_of(st.just(q), GARBAGE), label="q")
                q_target = draw(st.one_of(st.none(), st.just(q_target), st.just(q + 0.5), GARBAGE), label="q_target")
                qd_target = draw(st.one_of(st.none(), _vec(-0.5, 0.5), _vec(-50.0, 50.0), GARBAGE), label="qd_target")
            if fault in ("stamp", "all"):
                max_age, future = user.mpc.max_obs_age_s, user.safety.max_future_stamp_s
                lag = draw(
                    st.sampled_from([max_age * 1.01, 10.0, 1e9, -1.0, -future * 2, -1e9, math.nan]),
                    label="stamp lag",
                )
            return MpcCase(
                guardrails=g,
                model=model,
                optimizer=optimizer,
                command_steps=draw(st.sampled_from([user.mpc.command_steps, 1, 2, 4]), label="command steps"),
                costs=costs,
                critic=critic,
                goal_kind=goal_kind,
                goal=goal,
                image=image,
                image_seed=draw(st.integers(0, 2**16), label="image seed"),
                q=q_meas,
                q_target=q_target,
                qd_target=qd_target,
                stamp_lag_s=lag,
                ticks=draw(st.integers(1, 3), label="ticks"),
                fault=stratum if adversarial else "none",
                extra=extra,
            )

        return case()


# ============================================================================================ runners


def _safety_filter(cfg: SafetyConfig, model: mujoco.MjModel):
    """A SafetyFilter, looked up at call time (so a test can swap in a broken one)."""
    return safety_module.SafetyFilter(cfg, model)


def _deployed(setup: CampaignSetup, g: GuardrailConfig) -> SafetyConfig:
    """The safety_filter node's config with the case's guardrails (the user's plus extra geometry)."""
    return dataclasses.replace(setup.params.safety, guardrails=g)


def _with_extra(base: GuardrailConfig, case_g: GuardrailConfig, user_g: GuardrailConfig) -> GuardrailConfig:
    """`base` plus whatever the case added to the user's guardrails."""
    return dataclasses.replace(
        base,
        keep_out=base.keep_out + case_g.keep_out[len(user_g.keep_out) :],
        speed_zones=base.speed_zones + case_g.speed_zones[len(user_g.speed_zones) :],
    )


def _filter_and_check(out: Outcome, setup: CampaignSetup, filt, cfg: SafetyConfig, tick: FilterTick, label: str):
    try:
        command, report = filt.filter(
            tick.proposal,
            tick.q_measured,
            tick.stamp_s,
            tick.now_s,
            q_reference=tick.q_reference,
            qd_reference=tick.qd_reference,
            gripper=tick.gripper,
        )
        out.record(report)
    except Exception as exc:  # noqa: BLE001 - the filter promises never to raise (and to return a report)
        out.violations.append(Violation("filter_raised", -1, f"{label}: {type(exc).__name__}: {exc}"))
        return None, None
    found = setup.truth.check_filter_call(
        cfg,
        q_measured=tick.q_measured,
        stamp_s=tick.stamp_s,
        now_s=tick.now_s,
        q_reference=tick.q_reference,
        qd_reference=tick.qd_reference,
        joint_targets=getattr(command, "joint_targets", None),
        gripper=getattr(command, "gripper", None),
        hold=bool(getattr(report, "hold", False)),
    )
    out.add(found, label)
    out.trace.append(f"{label}: {report.describe()} -> {_fmt(command.joint_targets, 300)}")
    return command, report


def run_filter_case(setup: CampaignSetup, case: FilterCase) -> Outcome:
    out = Outcome()
    cfg = _deployed(setup, case.guardrails)
    _filter_and_check(out, setup, _safety_filter(cfg, setup.model), cfg, case.tick, "filter")
    return out


def run_loop_case(setup: CampaignSetup, adversary: Adversary, case: LoopCase) -> Outcome:
    out = Outcome()
    cfg = _deployed(setup, case.guardrails)
    filt = _safety_filter(cfg, setup.model)
    period = cfg.arm.control_period_s
    q_arm = case.q0.copy()
    last_sent: np.ndarray | None = None
    last_step = np.zeros(DOF)
    now = 100.0
    for i, t in enumerate(case.ticks):
        start = last_sent if last_sent is not None else q_arm
        if t.proposal == "push":
            proposal = adversary.push(start, case.target, t.size, t.points)
        elif t.proposal in ("near", "far"):
            scale = t.size if t.proposal == "near" else 10 * t.size
            rng = np.random.default_rng(i)
            proposal = start + np.cumsum(rng.uniform(-scale, scale, (t.points, DOF)), axis=0)
        else:
            proposal = np.repeat(start[None], t.points, axis=0)
        stamp: object = now - 0.3 * period
        now_s = now
        if t.clock == "stale":
            stamp = now - cfg.max_obs_age_s - 1e-3 - t.jump_s
        elif t.clock == "future":
            stamp = now + cfg.max_future_stamp_s + 1e-3 + t.jump_s
        elif t.clock == "back":
            now_s = now = now - t.jump_s  # the clock jumps back, and stays there
            stamp = now_s - 0.3 * period
        elif t.clock == "forward":
            now_s = now = now + t.jump_s
        elif t.clock == "nan":
            stamp = math.nan
        tick = FilterTick(
            proposal,
            q_arm.copy(),
            stamp,
            now_s,
            last_sent,
            last_step / period if t.use_velocity else None,
            None,
            t.proposal,
        )
        command, _ = _filter_and_check(out, setup, filt, cfg, tick, f"tick {i}")
        if command is not None and len(command.joint_targets):
            sent = np.array(command.joint_targets[0], dtype=np.float64)
            last_step = sent - (last_sent if last_sent is not None else q_arm)
            last_sent = sent
            q_arm = np.clip(sent + np.asarray(t.noise), adversary.mjcf_lower, adversary.mjcf_upper)
        else:
            last_step = np.zeros(DOF)
        now += period
    return out


def _image(kind: str, size: int, seed: int) -> object:
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    return {
        "ok": lambda: rgb,
        "random": lambda: rgb,
        "zero": lambda: np.zeros((size, size, 3), np.uint8),
        "saturated": lambda: np.full((size, size, 3), 255, np.uint8),
        "small": lambda: rgb[:5, :7],
        "large": lambda: rng.integers(0, 256, (300, 200, 3), dtype=np.uint8),
        "float_nan": lambda: np.full((size, size, 3), np.nan, np.float32),
        "float_inf": lambda: np.full((size, size, 3), np.inf, np.float32),
        "uint16": lambda: rgb.astype(np.uint16) * 257,
        "gray": lambda: rgb[..., 0],
        "rgba": lambda: np.concatenate([rgb, rgb[..., :1]], axis=-1),
        "empty": lambda: np.zeros((0, size, 3), np.uint8),
        "bool": lambda: rgb > 127,
        "flat": lambda: rgb.reshape(-1),
        "strided": lambda: rgb[::-1, ::2],
    }[kind]()


def _valid_image(image: object) -> bool:
    """The MPC's documented input contract: uint8 [H, W, 3]."""
    return isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3 and image.shape[-1] == 3


def run_mpc_case(setup: CampaignSetup, adversary: Adversary, case: MpcCase) -> Outcome:
    from jepa_mpc.planner.mpc import Observation, RecedingHorizonMPC

    out = Outcome()
    user = setup.params
    world_model = setup.world_model if case.model == "checkpoint" else GarbageWorldModel(case.model, latent_dim=16)
    mpc_cfg = setup.campaign_mpc_config(case.optimizer, case.command_steps)
    g_plan = _with_extra(user.planner_guardrails, case.guardrails, setup.base_guardrails)
    probe = None
    if "pose_probe" in case.costs.terms and hasattr(world_model, "probe"):

        def probe(z: torch.Tensor) -> torch.Tensor:
            return world_model.probe("ee_pos", z)

    critic = _critic(case.critic) if case.critic else None
    try:
        mpc = RecedingHorizonMPC.build(
            world_model, mpc_cfg, case.costs, g_plan, probe=probe, critic=critic, model=setup.model
        )
    except ValueError as exc:  # a cost term this model cannot provide: not a case
        out.interventions["config rejected"] += 1
        out.trace.append(f"build: {exc}")
        return out
    inner_cfg = SafetyConfig(guardrails=g_plan, arm=mpc_cfg.arm)  # what RecedingHorizonMPC.build uses
    deployed_cfg = _deployed(setup, case.guardrails)
    deployed = _safety_filter(deployed_cfg, setup.model)
    try:
        if case.goal_kind.startswith("ee:"):
            mpc.set_goal(ee_goal=case.goal)
        elif case.goal_kind == "image":
            mpc.set_goal_image(_image(str(case.goal), setup.image_size, case.image_seed + 1),
                               setup.proprio(np.zeros(7)))
        else:
            z = {"nan": math.nan, "huge": 1e30, "zero": 0.0}[str(case.goal)]
            mpc.set_goal(z_goal=torch.full((world_model.latent_dim,), z))
    except Exception as exc:  # noqa: BLE001
        out.error = f"set_goal: {type(exc).__name__}: {exc}"
        return out
    image = _image(case.image, setup.image_size, case.image_seed)
    q_meas, q_target, qd_target = case.q, case.q_target, case.qd_target
    now = 1000.0
    for i in range(case.ticks):
        stamp = now - case.stamp_lag_s
        obs = Observation(
            image=image,
            q=q_meas,
            stamp_s=stamp,
            proprio=setup.proprio(q_meas),
            q_target=q_target,  # type: ignore[arg-type]
            qd_target=qd_target,
        )
        try:
            result = mpc.step(obs, now_s=now)
        except Exception as exc:  # noqa: BLE001 - an escaped exception is reported (not a guardrail breach)
            out.error = f"tick {i}: RecedingHorizonMPC.step raised {type(exc).__name__}: {exc}"
            out.interventions["exception"] += 1
            return out
        plan, command, report = result.plan, result.command, result.report
        out.interventions[f"plan {plan.status.value}"] += 1
        out.record(report)
        label = f"tick {i}"
        actions = plan.actions.detach().cpu().double().numpy()
        if not np.all(np.isfinite(actions)):
            out.violations.append(Violation("non_finite_plan", -1, f"{label}: {plan.status.value} plan"))
        # The MPC's start point and the validity of its inputs, from the documented contract.
        q_t = finite_vector(q_target, DOF) if q_target is not None else None
        q0 = q_t if q_t is not None else finite_vector(q_meas, DOF)
        stamp_ok = finite_float(stamp)
        fresh = stamp_ok is not None and now - stamp_ok <= mpc_cfg.max_obs_age_s + 1e-9
        if plan.ok:
            if q0 is None or not fresh or not _valid_image(image):
                out.violations.append(
                    Violation(
                        "plan_on_invalid_input",
                        -1,
                        f"{label}: OK plan with q0={q0}, stamp lag {case.stamp_lag_s}, image {case.image}",
                    )
                )
            else:
                qd0 = finite_vector(qd_target, DOF) if qd_target is not None else None
                found = setup.truth.check_plan(g_plan, mpc_cfg.arm, q0, actions, qd0)
                out.add(found, f"{label} plan")
        found = setup.truth.check_filter_call(
            inner_cfg,
            q_measured=q_meas,
            stamp_s=stamp,
            now_s=now,
            q_reference=q0,
            qd_reference=qd_target,
            joint_targets=command.joint_targets,
            gripper=command.gripper,
            hold=report.hold,
        )
        out.add(found, f"{label} mpc command")
        q_m = finite_vector(q_meas, DOF)
        if not plan.ok and len(command.joint_targets) and q0 is not None and q_m is not None:
            # A non-OK plan is the hold plan: when the filter starts from q0, nothing may move.
            starts = setup.truth.starts(inner_cfg, q_m, q0, *setup.truth.limits(g_plan))
            moved = float(np.max(np.abs(command.joint_targets - q0)))
            if len(starts) == 1 and np.array_equal(starts[0], q0) and moved > 1e-9:
                out.violations.append(
                    Violation(
                        "moved_without_plan",
                        -1,
                        f"{label}: {plan.status.value} plan, yet the arm is sent {command.joint_targets.tolist()}",
                    )
                )
        out.trace.append(f"{label}: plan {plan.status.value}; {report.describe()}")
        # The ROS graph: mpc_node publishes the plan as joint targets (filtered head), the safety_filter
        # node filters them again with its own limits.
        sent = command.joint_targets
        if plan.ok and len(sent) and q0 is not None:
            step = mpc_cfg.arm.max_joint_step_rad
            positions = q0[None] + np.cumsum(np.clip(actions[:, :DOF], -1, 1) * step, axis=0)
            positions[: len(sent)] = sent
            tick = FilterTick(positions, q_meas, stamp, now, q0, None, None, "published plan")
            c2, _ = _filter_and_check(out, setup, deployed, deployed_cfg, tick, f"{label} safety_filter node")
            if c2 is not None and len(c2.joint_targets):
                sent = c2.joint_targets
        # The arm follows the first point sent; the next tick starts from there.
        if len(sent):
            q_target = np.array(sent[0], dtype=np.float64)
            q_meas = q_target.copy()
        now += mpc_cfg.arm.control_period_s
    return out


# ============================================================================================ campaign


@dataclasses.dataclass
class CategoryResult:
    """Statistics of one category."""

    name: str
    budget: int
    cases: int = 0
    violating_cases: int = 0
    violation_kinds: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    advisory_cases: int = 0
    advisory_kinds: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    first_advisory: str | None = None
    errors: int = 0
    error_kinds: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    interventions: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    seconds: float = 0.0
    first_error: str | None = None
    counterexample: str | None = None
    counterexample_violations: list[str] = dataclasses.field(default_factory=list)
    counterexample_trace: list[str] = dataclasses.field(default_factory=list)
    shrunk: bool = False
    _first_failure: tuple[object, Outcome] | None = None

    def add(self, case: object, outcome: Outcome) -> None:
        self.cases += 1
        self.interventions.update(outcome.interventions)
        if outcome.violations:
            self.violating_cases += 1
            self.violation_kinds.update(v.kind for v in outcome.violations)
            if self._first_failure is None:
                self._first_failure = (case, outcome)
        if outcome.advisories:
            self.advisory_cases += 1
            self.advisory_kinds.update(v.kind for v in outcome.advisories)
            if self.first_advisory is None:
                self.first_advisory = str(outcome.advisories[0])
        if outcome.error:
            self.errors += 1
            self.error_kinds[outcome.error.split(":")[1].strip() if ":" in outcome.error else outcome.error] += 1
            if self.first_error is None:
                describe = getattr(case, "describe", None)
                self.first_error = outcome.error + ("\n" + describe() if describe else "")

    def to_json(self) -> dict:
        return {
            "cases": self.cases,
            "violations": self.violating_cases,
            "violation_kinds": dict(self.violation_kinds),
            "errors": self.errors,
            "error_kinds": dict(self.error_kinds),
            "advisories": self.advisory_cases,
            "advisory_kinds": dict(self.advisory_kinds),
            "first_advisory": self.first_advisory,
            "interventions": dict(self.interventions),
            "seconds": round(self.seconds, 2),
            "counterexample": self.counterexample,
            "counterexample_violations": self.counterexample_violations,
            "shrunk": self.shrunk,
            "first_error": self.first_error,
        }


@dataclasses.dataclass
class CampaignResult:
    """Everything the report prints."""

    params_source: str
    checkpoint: str
    seed: int
    requested: int
    categories: dict[str, CategoryResult]
    seconds: float
    warnings: tuple[str, ...] = ()

    @property
    def cases(self) -> int:
        return sum(c.cases for c in self.categories.values())

    @property
    def violations(self) -> int:
        return sum(c.violating_cases for c in self.categories.values())

    @property
    def errors(self) -> int:
        return sum(c.errors for c in self.categories.values())

    def to_json(self) -> dict:
        filt = sum(self.categories[c].cases for c in FILTER_CATEGORIES if c in self.categories)
        return {
            "params": self.params_source,
            "checkpoint": self.checkpoint,
            "seed": self.seed,
            "requested_cases": self.requested,
            "cases": self.cases,
            "violations": self.violations,
            "errors": self.errors,
            "passed": self.violations == 0,
            "seconds": round(self.seconds, 2),
            "split": {"safety_filter": filt, "mpc": self.cases - filt},
            "categories": {name: c.to_json() for name, c in self.categories.items()},
            "warnings": list(self.warnings),
        }


def split_budget(cases: int, mpc_fraction: float = DEFAULT_MPC_FRACTION) -> dict[str, int]:
    """Cases per category; `mpc_fraction` of them (at least one per category) through the full MPC."""
    if cases < len(CATEGORIES):
        raise ValueError(f"need at least {len(CATEGORIES)} cases (one per category), got {cases}")
    n_mpc = min(max(len(MPC_CATEGORIES), round(cases * mpc_fraction)), cases - len(FILTER_CATEGORIES))
    n_filter = cases - n_mpc
    out = {name: max(1, int(n_filter * share)) for name, share in FILTER_SHARES.items()}
    out[FILTER_CATEGORIES[0]] += n_filter - sum(out.values())
    out[MPC_CATEGORIES[0]] = n_mpc // 2
    out[MPC_CATEGORIES[1]] = n_mpc - n_mpc // 2
    return out


def _hypothesis_settings(max_examples: int, phases: Iterable[Phase]) -> settings:
    return settings(
        max_examples=max_examples,
        database=None,
        deadline=None,
        derandomize=False,  # a fixed @seed instead: reproducible, and different per category
        phases=tuple(phases),
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
        report_multiple_bugs=False,
        print_blob=False,
    )


class _ViolationFoundError(Exception):
    pass


@dataclasses.dataclass(frozen=True)
class CategorySpec:
    """How a category makes and runs its cases: strata share its budget evenly."""

    strata: tuple[str, ...]
    strategy: Callable[[str], st.SearchStrategy]
    runner: Callable[[object], Outcome]


def _stratum_budgets(budget: int, strata: int) -> list[int]:
    return [budget // strata + (i < budget % strata) for i in range(strata)]


def _explorer(
    result: CategoryResult, runner: Callable[[object], Outcome], target: int, on_case: Callable[[], None]
) -> Callable[[object], None]:
    """The exploring property: run a case and record it (never fails, so hypothesis never stops)."""

    def explore(case: object) -> None:
        if result.cases >= target:
            return
        result.add(case, runner(case))
        on_case()

    return explore


def _run_category(
    result: CategoryResult,
    spec: CategorySpec,
    seed: int,
    on_case: Callable[[], None],
    shrink: bool,
) -> None:
    """Explore `result.budget` cases over the strata (stats on every case); then let hypothesis
    shrink the first failure (same stratum, same seed: it replays the search up to that failure)."""
    start = time.perf_counter()
    failing: tuple[st.SearchStrategy, int, int] | None = None  # (strategy, seed, max_examples)
    for index, (stratum, budget) in enumerate(
        zip(spec.strata, _stratum_budgets(result.budget, len(spec.strata)), strict=True)
    ):
        strategy = spec.strategy(stratum)
        target = result.cases + budget
        for attempt in range(5):  # hypothesis may stop early on a small space; rarely needed
            if result.cases >= target:
                break
            run_seed = seed + 104_729 * index + 7919 * attempt
            before, max_examples = result.violating_cases, target - result.cases
            test = given(strategy)(_explorer(result, spec.runner, target, on_case))
            test = _hypothesis_settings(max_examples, [Phase.generate])(test)
            hypothesis_seed(run_seed)(test)()
            if failing is None and result.violating_cases > before:
                failing = (strategy, run_seed, max_examples)
    found: dict[str, tuple[object, Outcome]] = {}
    if failing is not None and shrink:
        strategy, run_seed, max_examples = failing
        deadline = time.monotonic() + SHRINK_BUDGET_S

        def falsify(case: object) -> None:
            if time.monotonic() > deadline:
                return
            outcome = spec.runner(case)
            if outcome.violations:
                found["last"] = (case, outcome)
                raise _ViolationFoundError

        test = given(strategy)(falsify)
        test = _hypothesis_settings(max_examples, [Phase.generate, Phase.shrink])(test)
        try:
            hypothesis_seed(run_seed)(test)()
        except Exception as exc:  # noqa: BLE001 - the shrunk failure, or hypothesis noticing the deadline
            logger.debug("shrinking %s ended with %r", result.name, exc)
        result.shrunk = "last" in found
    if result._first_failure is not None:
        case, outcome = found["last"] if result.shrunk else result._first_failure
        result.counterexample = case.describe()  # type: ignore[attr-defined]
        result.counterexample_violations = [str(v) for v in outcome.violations[:10]]
        result.counterexample_trace = outcome.trace[-6:]
    result.seconds = time.perf_counter() - start


def run_campaign(
    setup: CampaignSetup,
    cases: int,
    *,
    seed: int = 0,
    mpc_fraction: float = DEFAULT_MPC_FRACTION,
    progress: bool = True,
    shrink: bool = True,
    categories: Iterable[str] | None = None,
) -> CampaignResult:
    """Run the campaign: `cases` in all, split over the categories (see split_budget)."""
    budget = split_budget(cases, mpc_fraction)
    chosen = list(categories) if categories is not None else list(CATEGORIES)
    unknown = set(chosen) - set(CATEGORIES)
    if unknown:
        raise ValueError(f"unknown categories {sorted(unknown)}; valid: {list(CATEGORIES)}")
    adv = Adversary(setup)

    def mpc_runner(case: object) -> Outcome:
        return run_mpc_case(setup, adv, case)  # type: ignore[arg-type]

    specs = {
        "filter.targets": CategorySpec(TARGET_STRATA, adv.filter_targets, lambda c: run_filter_case(setup, c)),
        "filter.inputs": CategorySpec(INPUT_STRATA, adv.filter_inputs, lambda c: run_filter_case(setup, c)),
        "filter.closed_loop": CategorySpec(LOOP_STRATA, adv.closed_loop, lambda c: run_loop_case(setup, adv, c)),
        "mpc.goals": CategorySpec(GOAL_STRATA, lambda s: adv.mpc(s, adversarial=False), mpc_runner),
        "mpc.adversarial": CategorySpec(ADVERSARIAL_STRATA, lambda s: adv.mpc(s, adversarial=True), mpc_runner),
    }
    results = {name: CategoryResult(name, budget[name]) for name in CATEGORIES if name in chosen}
    start = time.perf_counter()
    bar = None
    if progress:
        from tqdm import tqdm

        total = sum(r.budget for r in results.values())
        bar = tqdm(total=total, unit="case", file=sys.stderr, dynamic_ncols=True)
    on_case = (lambda: bar.update(1)) if bar is not None else (lambda: None)
    # Holds and rejections are expected by the thousand: the planner's log lines are counted instead.
    planner_logger = logging.getLogger("jepa_mpc.planner")
    level = planner_logger.level
    planner_logger.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():  # garbage inputs make NumPy warn (complex casts, overflow)
            warnings.simplefilter("ignore", RuntimeWarning)
            warnings.simplefilter("ignore", np.exceptions.ComplexWarning)
            for index, (name, result) in enumerate(results.items()):
                if bar is not None:
                    bar.set_description(name)
                _run_category(result, specs[name], seed * 1000 + index * 17, on_case, shrink)
    finally:
        planner_logger.setLevel(level)
        if bar is not None:
            bar.close()
    elapsed = time.perf_counter() - start
    return CampaignResult(
        setup.params.source, setup.checkpoint_name, seed, cases, results, elapsed, setup.params.warnings
    )


# ============================================================================================== report


def _interventions_order() -> list[str]:
    return (
        ["pass"]
        + [r.value for r in SafetyReason]
        + ["hold", "stop (no setpoint)"]
        + [f"plan {s.value}" for s in PlanStatus]
        + ["exception", "config rejected"]
    )


def format_report(result: CampaignResult) -> str:
    """The human-readable report (tables, counterexamples, verdict)."""
    cats = list(result.categories.values())
    n_filter = sum(c.cases for c in cats if c.name in FILTER_CATEGORIES)
    lines = [
        (f"guardrail campaign: params {result.params_source}; checkpoint {result.checkpoint}; seed {result.seed}"),
        (
            f"split: {n_filter} safety-filter cases, {result.cases - n_filter} full-MPC cases "
            f"(K=64, H={CAMPAIGN_HORIZON}, 1 iteration) of {result.requested} requested"
        ),
    ]
    lines += [f"WARNING: {w}" for w in result.warnings]
    width = max(len(c.name) for c in cats) + 2
    lines += ["", f"{'category':<{width}}{'cases':>8}{'violations':>12}{'errors':>8}{'seconds':>9}"]
    rows = [(c.name, c.cases, c.violating_cases, c.errors, c.seconds) for c in cats]
    rows.append(("total", result.cases, result.violations, result.errors, result.seconds))
    lines += [f"{n:<{width}}{k:>8}{v:>12}{e:>8}{t:>9.1f}" for n, k, v, e, t in rows]
    kinds = [k for k in _interventions_order() if any(c.interventions[k] for c in cats)]
    kinds += sorted({k for c in cats for k in c.interventions} - set(kinds))
    header = "".join(f"{c.name.split('.')[-1][:11]:>12}" for c in cats)
    lines += [
        "",
        "interventions by kind (counted per safety-filter call / MPC tick):",
        f"{'kind':<28}{header}",
    ]
    lines += [f"{kind:<28}" + "".join(f"{c.interventions[kind]:>12}" for c in cats) for kind in kinds]
    for c in cats:
        if not c.violating_cases:
            continue
        how = "shrunk by hypothesis" if c.shrunk else "first found, not shrunk"
        lines += [
            "",
            f"VIOLATIONS in {c.name}: {c.violating_cases} case(s); kinds {dict(c.violation_kinds)}",
            f"counterexample ({how}):",
        ]
        lines += ["  " + line for line in (c.counterexample or "").splitlines()]
        lines += ["  violated: " + v for v in c.counterexample_violations]
        lines += ["  trace: " + t for t in c.counterexample_trace]
    for c in cats:
        if c.advisory_cases:
            lines += [
                "",
                (
                    f"advisories in {c.name} (beyond what the filter promises; not violations): "
                    f"{c.advisory_cases} case(s); {dict(c.advisory_kinds)}"
                ),
                f"  e.g. {c.first_advisory}",
            ]
    for c in cats:
        if c.errors:
            lines += [
                "",
                (
                    f"ERRORS in {c.name} (an exception escaped the planner; not a guardrail breach: the "
                    f"ROS graph holds when plans stop): {c.errors} case(s); {dict(c.error_kinds)}"
                ),
            ]
            lines += ["  " + line for line in (c.first_error or "").splitlines()[:30]]
    verdict = "PASS" if result.violations == 0 else "FAIL"
    lines += [
        "",
        (
            f"{verdict}: {result.violations} violation(s) in {result.cases} cases "
            f"({result.errors} error(s)) in {result.seconds:.1f} s"
        ),
    ]
    return "\n".join(lines)


# ================================================================================================= CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--params",
        type=pathlib.Path,
        required=True,
        help="ROS 2 YAML parameter file (e.g. launch/real_arm.yaml or your cell's copy)",
    )
    parser.add_argument(
        "--checkpoint",
        type=str,
        default=None,
        help="world-model checkpoint (default: the file's mpc.checkpoint, else the shipped one)",
    )
    parser.add_argument("--cases", type=int, default=10_000, help="cases in all (default 10000)")
    parser.add_argument("--seed", type=int, default=0, help="hypothesis seed (fixed: reproducible)")
    parser.add_argument(
        "--mpc-fraction",
        type=float,
        default=DEFAULT_MPC_FRACTION,
        help=f"share of cases run through the full MPC (default {DEFAULT_MPC_FRACTION})",
    )
    parser.add_argument("--json", type=pathlib.Path, default=None, help="also write the report as JSON here")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--no-shrink", action="store_true", help="report the first counterexample unshrunk")
    parser.add_argument(
        "--strict",
        action="store_true",
        help="also exit 1 when an exception escaped the planner (errors)",
    )


def run(args: argparse.Namespace) -> int:
    """Run the campaign; 0: no violation, 1: violations (or errors with --strict), 2: bad arguments."""
    if args.cases < len(CATEGORIES) or not 0.0 <= args.mpc_fraction <= 1.0:
        print(f"--cases must be >= {len(CATEGORIES)} and --mpc-fraction in [0, 1]", file=sys.stderr)  # noqa: T201 (CLI output)
        return 2
    torch.set_num_threads(max(1, args.threads))
    try:
        params = load_params(args.params)
        setup = CampaignSetup.build(params, checkpoint=args.checkpoint)
    except (OSError, ValueError, RuntimeError) as exc:
        print(f"guardrail-test: {exc}", file=sys.stderr)  # noqa: T201 (CLI output)
        return 2
    result = run_campaign(
        setup,
        args.cases,
        seed=args.seed,
        mpc_fraction=args.mpc_fraction,
        progress=not args.no_progress,
        shrink=not args.no_shrink,
    )
    print(format_report(result))  # noqa: T201 (CLI output)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result.to_json(), indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")  # noqa: T201 (CLI output)
    if result.violations:
        return 1
    return 1 if (args.strict and result.errors) else 0


if __name__ == "__main__":
    _parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(_parser)
    raise SystemExit(run(_parser.parse_args()))
