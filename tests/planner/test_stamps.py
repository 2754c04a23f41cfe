"""The one stamp rule (planner/stamps.py): fresh only within [-max_future_s, max_age_s] of the clock; NaN, inf,
text and far-future stamps are never fresh, so a watchdog built on it always fires eventually."""
from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from jepa_mpc.planner.stamps import StampStatus, stamp_age_status

MAX_AGE, AHEAD = 0.25, 0.05


def test_each_status_at_its_boundary():
    assert stamp_age_status(10.0, 10.0, MAX_AGE, AHEAD) is StampStatus.FRESH
    assert stamp_age_status(10.0, 10.25, MAX_AGE, AHEAD) is StampStatus.FRESH
    assert stamp_age_status(10.0, 10.26, MAX_AGE, AHEAD) is StampStatus.STALE
    assert stamp_age_status(10.04, 10.0, MAX_AGE, AHEAD) is StampStatus.FRESH
    assert stamp_age_status(10.06, 10.0, MAX_AGE, AHEAD) is StampStatus.FUTURE
    assert stamp_age_status(1e9, 0.0, MAX_AGE, AHEAD) is StampStatus.FUTURE
    for bad in (math.nan, math.inf, -math.inf, None, "1.0x", "1.0", b"1.0", True, [1.0, 2.0], 10**400):
        assert stamp_age_status(bad, 10.0, MAX_AGE, AHEAD) is StampStatus.INVALID, bad
        assert stamp_age_status(10.0, bad, MAX_AGE, AHEAD) is StampStatus.INVALID, bad


anything = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-(10**400), 10**400),
                     st.none(), st.text(max_size=4), st.sampled_from([1e308, -1e308, 5e-324]))


@settings(max_examples=300, deadline=None, database=None)
@given(stamp=anything, now=anything)
def test_fresh_exactly_when_finite_and_within_the_window(stamp, now):
    status = stamp_age_status(stamp, now, MAX_AGE, AHEAD)
    if isinstance(stamp, str) or isinstance(now, str):  # text is never a time, even '0'
        assert status is StampStatus.INVALID
        return
    try:
        s, n = float(stamp), float(now)
    except (TypeError, ValueError, OverflowError):
        assert status is StampStatus.INVALID
        return
    if not (math.isfinite(s) and math.isfinite(n)):
        assert status is StampStatus.INVALID
    else:
        assert (status is StampStatus.FRESH) == (s - n <= AHEAD and n - s <= MAX_AGE)
        assert (status is StampStatus.FUTURE) == (s - n > AHEAD)
        assert (status is StampStatus.STALE) == (s - n <= AHEAD and n - s > MAX_AGE)
