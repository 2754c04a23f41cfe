"""Strict inputs (issue 20, item 5): text, bytes, bools and complex values are not numbers, wherever float() or NumPy
would convert them. `SafetyFilter.filter(..., now_s='1.0')` gets no setpoint; a joint vector that holds '0.1' or
True is refused like a NaN one; a config field given text or a flag is rejected when the config is built; and the
campaign's oracle reads inputs by the same contract (it would otherwise expect motion from a reference the filter
rightly ignored)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jepa_mpc.planner.config import BoxZone, GuardrailConfig, SafetyConfig, SpeedZone, SphereZone
from jepa_mpc.planner.guardrail_checker import finite_float, finite_vector
from jepa_mpc.planner.safety import SafetyFilter, SafetyReason
from jepa_mpc.robots import load_robot

ROBOT = load_robot("panda")
FILTER = SafetyFilter(SafetyConfig(), ROBOT)
HOME = np.asarray(ROBOT.home, dtype=np.float64)
NOW = 100.0

not_a_number = st.one_of(
    st.text(max_size=4),
    st.sampled_from(["1.0", "0", "nan", " 2 ", "1e3"]),
    st.binary(max_size=4),
    st.booleans(),
    st.just(np.bool_(False)),
    st.complex_numbers(allow_nan=False, allow_infinity=False, max_magnitude=1.0),
)
"""A scalar that float() may well convert, and that is still no time and no angle."""


@st.composite
def vector_holding(draw, base: np.ndarray):
    """base [J] with one entry (or all of them) replaced by a non-number, as a list, a tuple or a NumPy array."""
    bad = draw(not_a_number)
    if draw(st.booleans()):
        values = [bad] * len(base)
    else:
        values = list(base)
        values[draw(st.integers(0, len(base) - 1))] = bad
    form = draw(st.sampled_from(["list", "tuple", "array"]))
    if form == "array":  # text -> '<U' array, bools -> bool array; floats beside a bool would become floats: object
        array = np.array(values)
        return array if array.dtype.kind != "f" else np.array(values, dtype=object)
    return values if form == "list" else tuple(values)


def _call(**changes):
    args = {"proposed_targets": HOME + 0.01, "q_measured": HOME, "stamp_s": NOW - 0.01, "now_s": NOW,
            "q_reference": None, "qd_reference": None, "gripper": None} | changes
    return FILTER.filter(args.pop("proposed_targets"), args.pop("q_measured"), args.pop("stamp_s"),
                         args.pop("now_s"), **args)


def test_valid_inputs_pass_so_the_refusals_below_are_about_the_types():
    command, report = _call(gripper=0.5, q_reference=HOME, qd_reference=np.zeros(7))
    assert report.ok and len(command.joint_targets) == 1 and command.gripper == 0.5


@settings(max_examples=150, deadline=None)
@given(bad=not_a_number.filter(lambda v: not isinstance(v, np.bool_)), which=st.sampled_from(["now_s", "stamp_s"]))
def test_a_time_that_is_not_a_number_gets_no_setpoint(bad, which):
    command, report = _call(**{which: bad})
    assert len(command.joint_targets) == 0 and report.hold
    assert report.reasons == (SafetyReason.BAD_STAMP,)


@pytest.mark.parametrize(("stamp_s", "now_s"), [(0.99, np.bool_(True)), (np.bool_(True), 1.01)])
def test_a_numpy_bool_is_not_a_time(stamp_s, now_s):  # True would read as 1.0 s: a fresh stamp
    command, report = _call(stamp_s=stamp_s, now_s=now_s)
    assert len(command.joint_targets) == 0 and report.reasons == (SafetyReason.BAD_STAMP,)


@settings(max_examples=150, deadline=None)
@given(q=vector_holding(HOME))
def test_a_joint_state_holding_a_non_number_gets_no_setpoint(q):
    command, report = _call(q_measured=q)
    assert len(command.joint_targets) == 0 and report.hold
    assert report.reasons == (SafetyReason.BAD_STATE_SHAPE,)


@settings(max_examples=150, deadline=None)
@given(p=vector_holding(HOME + 0.01), nested=st.booleans())
def test_a_proposal_holding_a_non_number_is_a_hold_that_does_not_move(p, nested):
    command, report = _call(proposed_targets=[p] if nested else p)
    assert report.hold and SafetyReason.BAD_COMMAND_SHAPE in report.reasons
    np.testing.assert_array_equal(command.joint_targets, HOME[None])


@settings(max_examples=150, deadline=None)
@given(ref=vector_holding(HOME + 0.001), qd=vector_holding(np.zeros(7)), gripper=not_a_number)
def test_references_and_gripper_holding_non_numbers_are_ignored(ref, qd, gripper):
    command, report = _call(q_reference=ref, qd_reference=qd, gripper=gripper)
    assert {SafetyReason.REFERENCE_IGNORED, SafetyReason.VELOCITY_REFERENCE_IGNORED,
            SafetyReason.NON_FINITE_GRIPPER} <= set(report.reasons)
    assert command.gripper is None and not report.hold
    np.testing.assert_allclose(command.joint_targets[0], HOME + 0.01)  # steps from the measured state


@settings(max_examples=100, deadline=None)
@given(bad=not_a_number.filter(lambda v: not isinstance(v, complex)), field=st.sampled_from(
    ["workspace_lo", "workspace_hi", "joint_lower", "max_joint_vel_rad_s", "sphere", "box", "speed"]))
def test_config_vectors_holding_non_numbers_are_rejected(bad, field):
    with pytest.raises(ValueError):
        if field == "sphere":
            SphereZone((0.5, bad, 0.3), 0.1)
        elif field == "box":
            BoxZone((0.0, 0.0, 0.0), (bad, 1.0, 1.0))
        elif field == "speed":
            SpeedZone(SphereZone((0.5, 0.0, 0.3), 0.1), bad)
        elif field.startswith("workspace"):
            GuardrailConfig(**{field: (0.2, bad, 0.02) if field.endswith("lo") else (0.8, 0.5, bad)})
        else:
            GuardrailConfig(**{field: (1.0,) * 6 + (bad,)})


def test_a_string_is_not_three_numbers():
    with pytest.raises(ValueError):
        GuardrailConfig(workspace_lo="123")
    with pytest.raises(ValueError):
        SphereZone("000", 0.1)


@given(bad=not_a_number)
def test_the_oracle_reads_inputs_by_the_same_contract(bad):
    assert finite_float(bad) is None
    assert finite_vector([0.0] * 6 + [bad], 7) is None
    assert finite_vector(np.array([bad] * 7), 7) is None
    assert finite_float(1) == 1.0 and finite_vector(np.arange(7), 7) is not None
