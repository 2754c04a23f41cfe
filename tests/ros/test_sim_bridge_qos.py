"""/joint_states from the sim bridge reaches a RELIABLE subscriber (robot_state_publisher and rviz subscribe
reliable; a best-effort publisher never matches them) and still a best-effort one (the mpc and safety_filter
nodes' sensor-data subscriptions)."""
from __future__ import annotations

import pytest

from tests.ros.conftest import spin_until

rclpy = pytest.importorskip("rclpy")
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data  # noqa: E402
from sensor_msgs.msg import JointState  # noqa: E402

from jepa_mpc.ros_nodes.sim_bridge import SimBridgeNode  # noqa: E402

RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)  # robot_state_publisher's subscription


def test_reliable_and_best_effort_subscribers_both_receive_joint_states(ros_context):
    sim = SimBridgeNode(context=ros_context)
    listener = rclpy.create_node("robot_state_publisher", context=ros_context)
    reliable: list[JointState] = []
    best_effort: list[JointState] = []
    listener.create_subscription(JointState, "/joint_states", reliable.append, RELIABLE)
    listener.create_subscription(JointState, "/joint_states", best_effort.append, qos_profile_sensor_data)
    executor = SingleThreadedExecutor(context=ros_context)
    for node in (sim, listener):
        executor.add_node(node)
    try:
        assert spin_until(executor, lambda: len(reliable) >= 3 and len(best_effort) >= 3, timeout_s=30.0), \
            f"reliable got {len(reliable)}, best-effort got {len(best_effort)}"
        assert list(reliable[-1].name[:7]) == list(sim.joint_names)
    finally:
        executor.shutdown()
        for node in (listener, sim):
            node.destroy_node()
