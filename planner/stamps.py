"""One rule for reading a message stamp against the clock: fresh, stale, from the future, or unreadable.

A stamp ahead of the clock never ages (now - stamp stays negative), so an input stamped far ahead would keep a
watchdog satisfied forever; anything more than `max_future_s` ahead is therefore as invalid as a NaN stamp.
Plain Python (no NumPy, no ROS), so the filter, the MPC and the ROS nodes all call the same function.
"""

from __future__ import annotations

import enum
import math
import numbers


class StampStatus(enum.Enum):
    """How a stamp reads at a given time."""

    FRESH = "fresh"
    STALE = "stale"  # older than the maximum age
    FUTURE = "future"  # further ahead of the clock than the bound: a clock error
    INVALID = "invalid"  # not a finite number (or the clock is not)


def stamp_age_status(stamp_s: object, now_s: object, max_age_s: float, max_future_s: float) -> StampStatus:
    """FRESH when -max_future_s <= now_s - stamp_s <= max_age_s; otherwise why not. Never raises. Only real numbers
    are times: a string or a bool is INVALID even when it would parse ('1.0' is not a time)."""
    if not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in (stamp_s, now_s)):
        return StampStatus.INVALID  # numpy.bool_ is no numbers.Real either
    try:
        stamp, now = float(stamp_s), float(now_s)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return StampStatus.INVALID
    if not (math.isfinite(stamp) and math.isfinite(now)):
        return StampStatus.INVALID
    if stamp - now > max_future_s:
        return StampStatus.FUTURE
    if now - stamp > max_age_s:
        return StampStatus.STALE
    return StampStatus.FRESH
