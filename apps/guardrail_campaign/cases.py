"""What the campaign runs: the categories, one dataclass per kind of case, and the Outcome of a case.

Joint vectors in cases are in the robot's model convention, J = robot.dof entries (the campaign also sends
malformed ones on purpose: those are plain objects here).
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Callable, Iterable

import numpy as np

from jepa_mpc.planner.config import CostConfig, GuardrailConfig
from jepa_mpc.planner.guardrail_checker import Violation

FILTER_CATEGORIES = ("filter.targets", "filter.swept", "filter.inputs", "filter.closed_loop")
MPC_CATEGORIES = ("mpc.goals", "mpc.adversarial")
CATEGORIES = FILTER_CATEGORIES + MPC_CATEGORIES
CAMPAIGN_HORIZON = 4
"""Planned steps of an MPC case (the campaign's optimiser is small and fast: K=64, H=4, one iteration)."""
GARBAGE_MODELS = ("nan", "inf", "-inf", "huge", "mixed", "noise")
"""World models whose predictions are garbage (runners.GarbageWorldModel)."""
BAD_IMAGES = (
    "float_nan", "empty", "small", "zero", "saturated", "float_inf", "uint16", "gray", "rgba", "bool",
    "large", "flat", "strided",
)  # fmt: skip


def fmt(value: object, limit: int = 400) -> str:
    """A value for a counterexample or a trace line (arrays with dtype and shape; long text cut)."""
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
        lines = [f"guardrails: user's + {self.extra or 'nothing'}", f"  {fmt(self.guardrails)}"]
        for name in ("note", "proposal", "q_measured", "stamp_s", "now_s", "q_reference", "qd_reference", "gripper"):
            lines.append(f"{name}: {fmt(getattr(t, name))}")
        return "\n".join(lines)


@dataclasses.dataclass(frozen=True)
class LoopTick:
    """One tick of a closed loop: what the planner proposes and what the clock and the arm do."""

    proposal: str  # push | near | far | same
    size: float  # push: metres per point; near/far: radians
    points: int
    clock: str  # normal | stale | future | back | forward | nan
    jump_s: float
    noise: tuple[float, ...]  # tracking error of the arm [J] (rad)
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
            f"  {fmt(self.guardrails)}",
            f"q0: {fmt(self.q0)}",
            f"push target ({self.target_kind}): {fmt(self.target)}",
        ]
        lines += [f"tick {i}: {t}" for i, t in enumerate(self.ticks)]
        return "\n".join(lines)


@dataclasses.dataclass(frozen=True)
class MpcCase:
    """One to three MPC ticks with a world model, goal, costs and inputs chosen to break things."""

    guardrails: GuardrailConfig
    model: str  # the setup's world model (its label: checkpoint | kinematic) | one of GARBAGE_MODELS
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
        lines = [f"guardrails: user's + {self.extra or 'nothing'}", f"  {fmt(self.guardrails)}"]
        for f in dataclasses.fields(self):
            if f.name not in ("guardrails", "extra"):
                lines.append(f"{f.name}: {fmt(getattr(self, f.name))}")
        return "\n".join(lines)


class LazyLine:
    """A trace line formatted only when it is read: formatting arrays costs more than the filter call it describes,
    and only a counterexample's trace is ever printed."""

    __slots__ = ("make",)

    def __init__(self, make: Callable[[], str]) -> None:
        self.make = make

    def __str__(self) -> str:
        return self.make()


@dataclasses.dataclass
class Outcome:
    """What one case did: interventions by kind, violations, and an exception if one escaped."""

    interventions: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    violations: list[Violation] = dataclasses.field(default_factory=list)
    advisories: list[Violation] = dataclasses.field(default_factory=list)
    error: str | None = None
    trace: list[str | LazyLine] = dataclasses.field(default_factory=list)

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
