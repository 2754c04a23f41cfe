"""Python log lines of the planner and the other layers reach /rosout through the running node's ROS logger
(ros_nodes/ros_logging.py): with the node's name and the record's severity, once each, and Python logging is as it
was once the nodes are gone."""
from __future__ import annotations

import logging

import numpy as np
import pytest

from tests.ros.conftest import spin_until

rclpy = pytest.importorskip("rclpy")
from rcl_interfaces.msg import Log  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.lifecycle import TransitionCallbackReturn  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy  # noqa: E402

from jepa_mpc.ros_nodes.ros_logging import bridge_python_logs  # noqa: E402

ROSOUT_QOS = QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE,
                        durability=DurabilityPolicy.TRANSIENT_LOCAL)  # also the lines logged before matching


def _listen(context):
    node = rclpy.create_node("rosout_listener", context=context)
    received: list[Log] = []
    node.create_subscription(Log, "/rosout", received.append, ROSOUT_QOS)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    return node, executor, received


def test_a_planner_warning_reaches_rosout_as_the_mpc_nodes_warning(ros_context):
    from jepa_mpc.planner.mpc import Observation
    from jepa_mpc.ros_nodes.mpc_node import MpcNode

    listener, executor, received = _listen(ros_context)
    # A name of its own: rcl keeps one /rosout publisher per logger name, so an "mpc" node another test left behind in
    # this process would take this node's lines.
    mpc = MpcNode("mpc_rosout_probe", context=ros_context, parameter_overrides=[Parameter("checkpoint", value="none")])
    try:
        assert mpc.trigger_configure() == TransitionCallbackReturn.SUCCESS
        planner = mpc.planners["pose"]
        stale = Observation(image=np.zeros((8, 8, 3), np.uint8), q=np.zeros(planner.safety.robot.dof),
                            stamp_s=0.0)
        planner.step(stale, now_s=100.0)  # the planner holds and says why, through Python logging

        def holding():
            return [m for m in received if m.name == "mpc_rosout_probe" and "holding" in m.msg]

        assert spin_until(executor, holding, timeout_s=10.0), [(m.name, m.msg) for m in received]
        (line,) = holding()
        assert line.level == Log.WARN and "planner.mpc" in line.msg
    finally:
        mpc.destroy_node()
        listener.destroy_node()
        executor.shutdown()


def test_a_safety_filter_error_reaches_rosout_as_the_filter_nodes_error(ros_context):
    """In its own process (`ros2 launch`, `bringup --processes per-node`) the filter's Python lines are the
    safety_filter node's: a filter that fails holds and says so on /rosout."""
    from jepa_mpc.ros_nodes.safety_filter_node import SafetyFilterNode

    listener, executor, received = _listen(ros_context)
    node = SafetyFilterNode("filter_rosout_probe", context=ros_context)
    try:
        def broken(*args, **kwargs):
            raise RuntimeError("a bug in a check")

        node.filter._filter = broken
        node.filter.filter(np.zeros((1, node.robot.dof)), node.robot.home, 0.0, 0.0)  # -> hold, logged

        def failed():
            return [m for m in received if m.name == "filter_rosout_probe" and "safety filter failed" in m.msg]

        assert spin_until(executor, failed, timeout_s=10.0), [(m.name, m.msg) for m in received]
        assert failed()[0].level == Log.ERROR and "a bug in a check" in failed()[0].msg
    finally:
        node.destroy_node()
        listener.destroy_node()
        executor.shutdown()


def test_each_record_goes_once_to_the_most_specific_node_and_logging_is_restored(ros_context):
    root = logging.getLogger("jepa_mpc")
    before = (root.level, root.propagate)
    root.setLevel(logging.INFO)  # the application's choice (bringup: INFO), as logging.basicConfig would set it
    listener, executor, received = _listen(ros_context)
    graph = rclpy.create_node("graph_node", context=ros_context)
    planner_owner = rclpy.create_node("planner_owner", context=ros_context)
    bridges = [bridge_python_logs(graph), bridge_python_logs(planner_owner, ("jepa_mpc.planner",))]
    try:
        assert not root.propagate, "while bridged, rcl prints the line; the root handlers must not print it again"
        logging.getLogger("jepa_mpc.planner.solver").error("plan fails the final check")
        logging.getLogger("jepa_mpc.sim.collect").info("episode 3 done")
        logging.getLogger("jepa_mpc.sim.collect").debug("below the node's log level")

        def by_text(text):
            return [(m.name, m.level) for m in received if text in m.msg]

        assert spin_until(executor, lambda: by_text("final check") and by_text("episode 3"), timeout_s=10.0)
        spin_until(executor, lambda: False, timeout_s=0.3)  # any duplicate would arrive meanwhile
        assert by_text("final check") == [("planner_owner", Log.ERROR)]
        assert by_text("episode 3") == [("graph_node", Log.INFO)]
        assert by_text("below the node's log level") == []
    finally:
        for bridge in bridges:
            bridge.close()
        for node in (graph, planner_owner, listener):
            node.destroy_node()
        executor.shutdown()
    assert (root.level, root.propagate) == (logging.INFO, before[1])
    root.setLevel(before[0])


def test_prefixes_outside_the_package_are_refused(ros_context):
    node = rclpy.create_node("someone", context=ros_context)
    try:
        with pytest.raises(ValueError, match="jepa_mpc"):
            bridge_python_logs(node, ("torch",))
    finally:
        node.destroy_node()
