"""The action-box filter: finite and in bounds, or the hold action; never raises."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jepa_mpc.planner.box_filter import ActionBoxConfig, ActionBoxFilter, BoxReason

BOX = ActionBoxConfig(low=(-1.0, -0.5), high=(1.0, 0.25))
LOW, HIGH = np.array(BOX.low), np.array(BOX.high)


def test_in_bounds_passes_unchanged():
    cmd, report = ActionBoxFilter(BOX).filter([[0.3, -0.2], [-1.0, 0.25]])
    assert report.ok and not cmd.hold
    np.testing.assert_array_equal(cmd.actions, [[0.3, -0.2], [-1.0, 0.25]])


def test_out_of_bounds_is_clamped_and_reported():
    cmd, report = ActionBoxFilter(BOX).filter([2.0, -3.0])
    assert report.reasons == (BoxReason.CLAMPED_ACTION_BOUND,) and not cmd.hold
    np.testing.assert_array_equal(cmd.actions, [[1.0, -0.5]])


@pytest.mark.parametrize("bad, reason", [
    ([[math.nan, 0.0]], BoxReason.NON_FINITE_COMMAND),
    ([[0.0, math.inf]], BoxReason.NON_FINITE_COMMAND),
    ([[0.0, 0.0, 0.0]], BoxReason.BAD_COMMAND_SHAPE),
    (np.zeros((0, 2)), BoxReason.BAD_COMMAND_SHAPE),
    ("left", BoxReason.BAD_COMMAND_SHAPE),
    (None, BoxReason.BAD_COMMAND_SHAPE),
    ([[0.0], [0.0, 1.0]], BoxReason.BAD_COMMAND_SHAPE),
])
def test_untrusted_proposals_become_the_hold_action(bad, reason):
    cmd, report = ActionBoxFilter(BOX).filter(bad)
    assert report.reasons == (reason,) and report.hold and cmd.hold
    np.testing.assert_array_equal(cmd.actions, [[0.0, 0.0]])


@settings(max_examples=300, deadline=None, database=None)
@given(st.lists(st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=64),
                                   st.sampled_from([1e308, -1e308, 1.0, -0.5, 0.25])), min_size=2, max_size=2),
                min_size=1, max_size=4))
def test_every_command_is_finite_and_inside_the_box(proposed):
    """Oracle written here, not taken from the module: any non-finite entry means the hold action, otherwise each
    entry is clamped into [low, high] and nothing else changes."""
    cmd, _ = ActionBoxFilter(BOX).filter(proposed)
    p = np.array(proposed, dtype=np.float64)
    if not np.isfinite(p).all():
        assert cmd.hold
        np.testing.assert_array_equal(cmd.actions, [[0.0, 0.0]])
    else:
        assert not cmd.hold
        np.testing.assert_array_equal(cmd.actions, np.minimum(np.maximum(p, LOW), HIGH))
    assert np.isfinite(cmd.actions).all() and np.all(cmd.actions >= LOW) and np.all(cmd.actions <= HIGH)


def test_config_is_validated():
    with pytest.raises(ValueError):
        ActionBoxConfig(low=(1.0,), high=(-1.0,))
    with pytest.raises(ValueError):
        ActionBoxConfig(low=(-1.0, -1.0), high=(1.0,))
    with pytest.raises(ValueError):
        ActionBoxConfig(low=(-math.inf,), high=(1.0,))
    with pytest.raises(ValueError):
        ActionBoxConfig(low=(0.1,), high=(1.0,), hold=(0.0,))  # hold outside the box
    assert ActionBoxConfig(low=(0.1,), high=(1.0,)).hold_action.tolist() == [0.1]  # zeros clipped into the box
