"""The detour router (planner/detour.py): with a zone on the straight path, following its via points leads the tool
around the zone to the goal along segments that never pass through the grown zone; with a clear path it is the goal."""
from __future__ import annotations

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from jepa_mpc.planner.config import BoxZone, SphereZone
from jepa_mpc.planner.detour import via_point

_xyz = st.lists(st.floats(-0.5, 0.5), min_size=3, max_size=3).map(np.array)


def _segment_distance(a, b, c):
    t = np.clip(np.dot(c - a, b - a) / max(np.dot(b - a, b - a), 1e-12), 0.0, 1.0)
    return np.linalg.norm(a + t * (b - a) - c)


def test_a_clear_path_goes_straight_to_the_goal():
    goal = np.array([0.5, 0.0, 0.3])
    zone = SphereZone((0.0, 0.5, 0.3), 0.05)
    np.testing.assert_array_equal(via_point([0.3, 0.0, 0.3], goal, (zone,), 0.05), goal)
    np.testing.assert_array_equal(via_point([0.3, 0.0, 0.3], goal, (), 0.05), goal)


@settings(max_examples=300, deadline=None)
@given(tool=_xyz, goal=_xyz, centre=_xyz, radius=st.floats(0.01, 0.15), clearance=st.floats(0.0, 0.1),
       box=st.booleans())
def test_following_the_via_points_goes_around_the_zone_to_the_goal(tool, goal, centre, radius, clearance, box):
    zone = BoxZone(tuple(centre - radius), tuple(centre + radius)) if box else SphereZone(tuple(centre), radius)
    grown = (radius * np.sqrt(3) if box else radius) + clearance  # what the router keeps clear (bounding sphere)
    assume(np.linalg.norm(tool - centre) > grown * 1.2 and np.linalg.norm(goal - centre) > grown * 1.2)
    assume(np.linalg.norm(goal - tool) > 1e-3)
    here = tool
    for _ in range(30):  # an ideal follower: the tool reaches each via point before the next tick
        nxt = via_point(here, goal, (zone,), clearance)
        assert _segment_distance(here, nxt, centre) >= grown - 1e-9  # no leg passes through the grown zone
        here = nxt
        if np.array_equal(here, goal):
            break
    np.testing.assert_array_equal(here, goal)


def test_a_head_on_zone_is_passed_over_not_through():
    tool, goal = np.array([0.3, 0.0, 0.3]), np.array([0.7, 0.0, 0.3])
    via = via_point(tool, goal, (SphereZone((0.5, 0.0, 0.3), 0.05),), 0.05)
    assert via[2] > 0.3 + 0.05  # up and over, clear of the grown zone
    assert _segment_distance(tool, via, np.array([0.5, 0.0, 0.3])) >= 0.1 - 1e-9


@settings(max_examples=200, deadline=None)
@given(tool=_xyz, towards=_xyz, centre=_xyz, radius=st.floats(0.01, 0.1), clearance=st.floats(0.02, 0.2),
       share=st.floats(0.0, 1.0))
def test_a_goal_inside_the_clearance_is_reached_around_the_bare_zone(tool, towards, centre, radius, clearance,
                                                                    share):
    """The hand needs more room than the goal leaves: the route still goes round, outside the zone itself."""
    assume(np.linalg.norm(towards) > 1e-3)
    reach = radius * 1.2 + share * (radius + clearance - radius * 1.2)  # between the zone and its clearance
    goal = centre + towards / np.linalg.norm(towards) * reach
    zone = SphereZone(tuple(centre), radius)
    assume(np.linalg.norm(tool - centre) > (radius + clearance) * 1.2)
    here = tool
    for _ in range(40):
        nxt = via_point(here, goal, (zone,), clearance)
        assert _segment_distance(here, nxt, centre) >= radius - 1e-9  # never through the zone itself
        here = nxt
        if np.array_equal(here, goal):
            break
    np.testing.assert_array_equal(here, goal)
