"""The safety_filter node's promises on an arm in motion (docs/safety.md): a stale plan stops commands within two
control periods, e-stop holds within one period and reset never resumes the old plan, no check sphere of the arm
enters a keep-out zone (an independent MuJoCo oracle), and the node bounds acceleration from its last commands."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("rclpy")
from jepa_mpc.planner.config import GuardrailConfig, SphereZone  # noqa: E402
from tests.planner.conftest import truth_for  # noqa: E402
from tests.ros.fake_driver import HOME_DRIVER, PANDA  # noqa: E402
from tests.ros.filter_graph import PERIOD, assert_held_after, close_graph, open_graph  # noqa: E402

TRUTH = truth_for(PANDA)  # MuJoCo's own kinematics of every check sphere, not the filter's code

FAR = np.r_[-0.5, np.zeros(6)]  # ten full steps away (from the default zone): the arm moves until stopped


@pytest.fixture
def graph(ros_context):
    g = open_graph(ros_context)
    yield g
    close_graph(g)


def _assert_held_after(g, t: float, seconds_watched: float) -> None:
    """Every command received after `t` is one and the same target: the arm stopped."""
    assert_held_after(g, t, int(seconds_watched / PERIOD) - 3)


def test_stale_plan_stops_commands_within_two_periods(graph):
    g = graph
    g.keep_planning(FAR, 0.5)
    last_stamp = g.safety._plan_stamp
    moving_q = g.driver.q.copy()
    g.spin(1.2)  # the planner died: no new plan, the last one still points ten steps away
    assert g.driver.q[0] < moving_q[0], "the last plan was still being executed before it went stale"
    _assert_held_after(g, last_stamp + g.safety.cfg.max_plan_age_s + 2 * PERIOD, 1.2 - 0.5)
    assert g.safety.last_decision == "HOLD (plan_stale)"


def test_estop_in_motion_holds_within_one_period_and_reset_discards_the_plan(graph):
    g = graph
    g.keep_planning(FAR, 0.5)
    (service,) = [s for s in g.safety.services if s.srv_name.endswith("/estop")]
    estop, stop_times = service.callback, []

    def timed_estop(request, response):  # when the node takes the stop (a loaded machine may answer late)
        stop_times.append(g.now_s())
        return estop(request, response)

    service.callback = timed_estop
    g.call("estop")
    stopped_at = g.now_s()
    before = g.driver.controller.target_at(stop_times[0])  # where the moving arm was when the node stopped it
    g.keep_planning(FAR, 0.8)  # the planner keeps pushing
    _assert_held_after(g, stopped_at + PERIOD, 0.8)
    held = g.commands_after(stopped_at + PERIOD)[-1]  # the hold target (the arm reaches it within a period)
    assert np.abs(held - before).max() <= 0.25 * g.safety.cfg.max_step_rad, "it stops where it is, not a step on"
    # A fresh plan arrives while stopped; reset must not resume it (nor any plan sent before the reset).
    stamp = g.publish_plan(held + FAR)
    assert g.spin(5.0, lambda: g.safety._plan_stamp == stamp)
    g.call("reset")
    reset_at = g.now_s()
    g.spin(0.6)
    np.testing.assert_allclose(g.driver.q, held, err_msg="reset resumed the plan sent before it")
    assert not any(np.abs(q - held).max() > 1e-9 for q in g.commands_after(reset_at))
    g.keep_planning(FAR, 0.5)
    assert g.driver.q[0] < held[0] - 0.05, "new plans after the reset move the arm again"


def test_no_check_sphere_enters_a_keep_out_zone(ros_context):
    """A small zone on the forearm's path (not the hand's) when joint 1 turns: a filter that checked only the tool
    point would swing the forearm through it. The oracle places all 25 spheres with MuJoCo itself."""
    swung = PANDA.home + np.r_[1.0, np.zeros(6)]
    forearm = TRUTH.points(swung)[9]  # a panda0_link5 sphere, ~0.3 m from the tool point
    zone, guards = SphereZone(tuple(forearm), 0.03), GuardrailConfig()
    assert TRUTH.clearance(guards, PANDA.home, zone) > 0
    hand_path = [TRUTH.ee(PANDA.home + np.r_[t, np.zeros(6)]) for t in np.linspace(0, 1.3, 40)]
    assert min(np.linalg.norm(p - forearm) for p in hand_path) > 0.2, "the tool point alone never nears the zone"
    g = open_graph(ros_context, **{"guardrails.keep_out_spheres": [*forearm, 0.03]})
    try:
        g.keep_planning(np.r_[0.05, np.zeros(6)], 2.0)
        assert g.driver.q[0] > HOME_DRIVER[0] + 0.3, "the arm moved towards the zone before being stopped"
        for _, q in g.driver.commands:
            assert TRUTH.clearance(guards, PANDA.from_driver(q), zone) >= -1e-9, q
    finally:
        close_graph(g)


def test_node_bounds_acceleration_from_its_last_two_commands(ros_context):
    """The node passes the filter the velocity of its last command: a plan that reverses a joint moving at full
    step is eased in (|step change| <= max_acc * period^2), not flipped. At 20 Hz the Panda's 15 rad/s^2 on
    joint 1 (0.0375 rad per step^2) binds below the 0.05 rad step bound, so a node without it would be seen.
    Steps are what the controller executes: from where it was when the command came to the command's first
    point (commands come when plans do, not on a grid: the controller moves on while a command travels, so the
    tolerance is the top speed times the measured plan -> arm latency, for this command and the one before)."""
    period = 0.05
    g = open_graph(ros_context, period=period, max_image_age_s=1.0, max_joint_state_age_s=1.0, max_plan_age_s=1.0,
                   **{"guardrails.keep_out_spheres": [5.0, 5.0, 5.0, 0.1]})
    try:
        g.keep_planning(FAR, 0.5)
        g.keep_planning(-FAR, 0.5)
        steps = np.array([c - s for (_, c), s in zip(g.driver.commands, g.driver.starts, strict=True)])[:, 0]
        moving = steps[np.abs(steps) > 1e-9]  # holds and repeats aside
        transport = 2 * g.max_latency_s() * g.safety.cfg.max_step_rad / period
        assert transport < 0.3 * g.safety.cfg.max_step_rad, f"latency {g.max_latency_s():.4f} s: too slow to judge"
        assert moving.max() == pytest.approx(g.safety.cfg.max_step_rad, abs=transport), "moved at full step"
        assert np.abs(steps).max() <= g.safety.cfg.max_step_rad + transport and moving.min() < 0, "then reversed"
        max_change = float(g.safety.filter.max_step_change[0])
        assert max_change == pytest.approx(15.0 * period**2)
        assert np.abs(np.diff(steps)).max() <= max_change + transport, np.round(steps, 4)
    finally:
        close_graph(g)


def test_an_arm_moved_by_something_else_is_held_where_it_is_not_pulled_back(graph):
    """A simulator reset (or another controller, or a collision) moves the arm far from where the node's commands
    put it: the node's holds and its next plan start from the measured arm, never from its own old setpoint."""
    g = graph
    g.keep_planning(FAR, 0.5)
    g.spin(g.safety.cfg.max_plan_age_s + 3 * PERIOD)  # the plan went stale: the node holds where it sent the arm
    old_setpoint = g.driver.controller.target_at(g.now_s())
    moved = old_setpoint + np.r_[0.0, 0.3, 0.0, -0.3, 0.0, 0.0, 0.0]  # more than max_tracking_error_rad away
    g.driver.controller.hold(moved)  # the arm is somewhere else now, without a command from the node,
    g.driver._tick()  # and says so at once, as the sim bridge does on a reset
    moved_at = g.now_s()
    g.spin(1.0)
    holds = g.commands_after(moved_at + 2 * PERIOD)
    assert holds, "the node stopped publishing holds"
    # a hold the node sent before it saw the moved arm can pull it back for a moment (the message race of any
    # filter); once seen, the arm stays where it was moved to
    assert np.abs(holds[-1] - moved).max() <= g.safety.cfg.max_step_rad, "the holds pull the arm to the old setpoint"
    assert np.allclose(holds[-4:], holds[-1], atol=1e-12), "the arm does not stay where it is"
    g.keep_planning(np.r_[0.01, np.zeros(6)], 0.5)
    first = g.commands_after(moved_at + 1.0)[0]
    assert np.abs(first - holds[-1]).max() <= g.safety.cfg.max_step_rad + 1e-9, "the new plan did not start at the arm"


def test_after_an_estop_reset_commands_start_from_the_arm_even_if_it_was_moved_a_little(graph):
    """While e-stopped the arm may be moved (by hand, a simulator reset) by less than max_tracking_error_rad: after
    ~/reset the node holds it where it now is and plans start there, not at the setpoint from before the stop."""
    g = graph
    g.keep_planning(FAR, 0.5)
    g.call("estop")
    g.spin(0.3)
    moved = g.driver.controller.target_at(g.now_s()) + np.r_[0.0, 0.08, 0.0, -0.08, 0.0, 0.0, 0.0]
    assert g.safety.filter.cfg.max_tracking_error_rad > 0.08, "this test is about a move the tracking check misses"
    follow = g.driver.controller.set_trajectory
    g.driver.controller.set_trajectory = lambda *args: None  # hand guiding: the arm ignores commands while moved
    g.driver.controller.hold(moved)
    g.spin(3 * PERIOD)
    g.call("reset")
    g.driver.controller.set_trajectory = follow
    reset_at = g.now_s()
    g.spin(0.6)  # no plan since the reset: the watchdog holds
    holds = g.commands_after(reset_at)
    assert holds and np.allclose(holds, moved, atol=1e-9), "the holds after the reset pull the arm back"
    g.keep_planning(np.r_[0.01, np.zeros(6)], 0.3)
    first = g.commands_after(reset_at + 0.6)[0]
    assert np.abs(first - moved).max() <= g.safety.cfg.max_step_rad + 1e-9
