"""A point on the arm that guardrails check, with a clearance radius: the tool point or a fitted check sphere."""
from __future__ import annotations

import dataclasses
import math


@dataclasses.dataclass(frozen=True)
class CheckPoint:
    """Arm point checked against keep-out zones and the table (`offset` in a site or body frame)."""

    name: str
    frame: str
    """Site name or body name of the robot's model (a site is tried first)."""
    offset: tuple[float, float, float] = (0.0, 0.0, 0.0)
    radius: float = 0.0
    """Clearance the point must keep from keep-out zones and the table (metres)."""
    table_check: bool = True
    """The table clearance applies. False for spheres no arm joint can lower (the mount: the base, a first link
    turning about a vertical axis, which may sit on the table by design) and for the gripper's fingers (they
    touch what lies on the table; keep-out zones still apply to them)."""

    def __post_init__(self) -> None:
        if not self.name or not self.frame:
            raise ValueError(f"CheckPoint.name and .frame must be non-empty, got {self.name!r} / {self.frame!r}")
        try:
            offset = tuple(float(v) for v in self.offset)
        except (TypeError, ValueError):
            raise ValueError(f"CheckPoint.offset must be 3 numbers, got {self.offset!r}") from None
        if len(offset) != 3 or not all(math.isfinite(v) for v in offset):
            raise ValueError(f"CheckPoint.offset must be 3 finite numbers, got {self.offset!r}")
        if isinstance(self.radius, bool) or not isinstance(self.radius, (int, float)) \
                or not math.isfinite(self.radius) or self.radius < 0:
            raise ValueError(f"CheckPoint.radius must be a finite number >= 0, got {self.radius!r}")
