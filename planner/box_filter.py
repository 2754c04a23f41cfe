"""Safety filter for arms commanded by bounded actions with no Cartesian guardrails (e.g. the dm_control Reacher).

A torque-driven planar arm like the Reacher has no joint-target trajectory, no workspace box and no keep-out zones
to check: its only guardrails are that every command is finite and inside the action box. This filter enforces
exactly that, independently of the model and the optimiser: non-finite or mis-shaped proposals become the hold
command (the `hold` vector, zero torque by default: the arm coasts under its own damping), finite values outside
the box are clamped into it. NumPy only; it never raises on bad input.
"""

from __future__ import annotations

import dataclasses
import enum
import math

import numpy as np


@dataclasses.dataclass(frozen=True)
class ActionBoxConfig:
    """Per-dimension action bounds [A] and the hold action [A] (inside the bounds)."""

    low: tuple[float, ...] = (-1.0, -1.0)
    high: tuple[float, ...] = (1.0, 1.0)
    hold: tuple[float, ...] | None = None
    """The action sent when a proposal cannot be trusted; None: zeros (clipped into the box)."""

    def __post_init__(self) -> None:
        low, high = np.asarray(self.low, dtype=np.float64), np.asarray(self.high, dtype=np.float64)
        if low.ndim != 1 or low.size < 1 or low.shape != high.shape:
            raise ValueError(f"ActionBoxConfig.low/high must be equal-length non-empty vectors, got {self.low!r}, "
                             f"{self.high!r}")
        if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high)) and np.all(low <= high)):
            raise ValueError(f"ActionBoxConfig needs finite low <= high, got {self.low!r}, {self.high!r}")
        if self.hold is not None:
            hold = np.asarray(self.hold, dtype=np.float64)
            if hold.shape != low.shape or not np.all(np.isfinite(hold)) or np.any(hold < low) or np.any(hold > high):
                raise ValueError(f"ActionBoxConfig.hold must be a finite vector inside the box, got {self.hold!r}")

    @property
    def dim(self) -> int:
        """Action size A."""
        return len(self.low)

    @property
    def hold_action(self) -> np.ndarray:
        """The hold action [A]."""
        if self.hold is not None:
            return np.asarray(self.hold, dtype=np.float64)
        return np.clip(np.zeros(self.dim), self.low, self.high)

    @classmethod
    def symmetric(cls, dim: int, bound: float = 1.0) -> ActionBoxConfig:
        """The box [-bound, bound]^dim (the planner's normalised action space when bound is 1)."""
        if not isinstance(dim, int) or dim < 1 or not math.isfinite(bound) or bound <= 0:
            raise ValueError(f"symmetric box needs dim >= 1 and a finite bound > 0, got {dim!r}, {bound!r}")
        return cls(low=(-float(bound),) * dim, high=(float(bound),) * dim)


class BoxReason(enum.Enum):
    """Why the filter changed or refused a command."""

    BAD_COMMAND_SHAPE = "bad_command_shape"
    NON_FINITE_COMMAND = "non_finite_command"
    CLAMPED_ACTION_BOUND = "clamped_action_bound"


@dataclasses.dataclass(frozen=True)
class BoxCommand:
    """What may be sent: `actions` [T, A], every entry finite and inside the box."""

    actions: np.ndarray
    hold: bool


@dataclasses.dataclass(frozen=True)
class BoxReport:
    """Why the command is what it is; no reasons means the proposal passed unchanged."""

    reasons: tuple[BoxReason, ...]
    hold: bool
    n_proposed: int

    @property
    def ok(self) -> bool:
        """True when the proposal passed unchanged."""
        return not self.reasons

    def describe(self) -> str:
        """One line for logs."""
        why = ", ".join(r.value for r in self.reasons) or "ok"
        return f"{'HOLD' if self.hold else 'pass'} ({why}); {self.n_proposed} proposed"


def outside_box(actions: object, low: np.ndarray, high: np.ndarray) -> bool:
    """True when any entry of `actions` is non-finite or outside [low, high] (the violation the filter prevents)."""
    try:
        a = np.asarray(actions, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        return True
    return bool(a.size == 0 or not np.all(np.isfinite(a)) or np.any(a < low) or np.any(a > high))


class ActionBoxFilter:
    """`filter(proposed [T, A]) -> (BoxCommand, BoxReport)`: finite and in the box, or the hold action."""

    def __init__(self, cfg: ActionBoxConfig) -> None:
        self.cfg = cfg
        self.low = np.asarray(cfg.low, dtype=np.float64)
        self.high = np.asarray(cfg.high, dtype=np.float64)

    def _hold(self, reason: BoxReason, n: int) -> tuple[BoxCommand, BoxReport]:
        return BoxCommand(self.cfg.hold_action[None].copy(), hold=True), BoxReport((reason,), True, n)

    def filter(self, proposed: object) -> tuple[BoxCommand, BoxReport]:
        """Check (and clamp) a proposed action sequence [T, A] (or one action [A])."""
        try:
            a = np.array(proposed, dtype=np.float64)
        except (TypeError, ValueError, OverflowError):
            return self._hold(BoxReason.BAD_COMMAND_SHAPE, 0)
        if a.ndim == 1:
            a = a[None]
        if a.ndim != 2 or a.shape[0] < 1 or a.shape[1] != self.cfg.dim:
            return self._hold(BoxReason.BAD_COMMAND_SHAPE, int(a.shape[0]) if a.ndim >= 1 else 0)
        if not np.all(np.isfinite(a)):
            return self._hold(BoxReason.NON_FINITE_COMMAND, a.shape[0])
        clamped = np.clip(a, self.low, self.high)
        reasons = (BoxReason.CLAMPED_ACTION_BOUND,) if np.any(clamped != a) else ()
        return BoxCommand(clamped, hold=False), BoxReport(reasons, False, a.shape[0])
