"""The campaign's proprioception (CampaignSetup.proprio): a reading that is not one value per arm joint is all
NaN, which the planner refuses; a readable one is the joints, then open fingers. Its docstring's promise, which
test_guardrail_campaign.py's shape-only property did not check."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from jepa_mpc.apps.guardrail_campaign import CampaignSetup
from jepa_mpc.apps.guardrail_campaign.runners import OPEN_FINGER_M

DOF, DIM = 7, 9
Setup = dataclasses.make_dataclass("Setup", [("proprio_dim", int), ("robot", object)])
SETUP = Setup(DIM, dataclasses.make_dataclass("Arm", [("dof", int)])(DOF))


def _proprio(q):
    return CampaignSetup.proprio(SETUP, q)


def test_unreadable_readings_are_nan():
    for q in ([], 1.5, np.float64(2.0), [0.1] * (DOF - 1), [0.1] * (DOF + 1), [[0.1] * DOF], None, "abc",
              [[0.1, 0.2], [0.3]]):
        out = _proprio(q)
        assert out.shape == (DIM,) and np.isnan(out).all(), (q, out)


def test_a_readable_reading_is_the_joints_then_open_fingers():
    q = np.linspace(-1, 1, DOF)
    np.testing.assert_allclose(_proprio(q), np.r_[q, [OPEN_FINGER_M] * (DIM - DOF)].astype(np.float32))


@settings(max_examples=200, deadline=None, database=None)
@given(st.one_of(st.none(), st.text(max_size=3), st.floats(), st.lists(st.floats(), max_size=12),
                 st.lists(st.lists(st.floats(), min_size=1, max_size=3), max_size=3)))
def test_anything_but_one_value_per_joint_is_all_nan(q):
    out = _proprio(q)
    assert out.shape == (DIM,) and out.dtype == np.float32
    if not (isinstance(q, list) and len(q) == DOF and all(isinstance(v, float) for v in q)):
        assert np.isnan(out).all()
    else:
        np.testing.assert_array_equal(np.isnan(out[:DOF]), [math.isnan(v) for v in q])
