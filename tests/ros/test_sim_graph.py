"""The whole sim graph in-process (sim_bridge + mpc with the shipped checkpoint + safety_filter), LOCALHOST discovery
and a unique domain id: the arm reaches a pose goal, and a keep-out zone on the straight path is never entered."""
from __future__ import annotations

import time

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")
from rclpy.executors import MultiThreadedExecutor  # noqa: E402
from trajectory_msgs.msg import JointTrajectory  # noqa: E402

from jepa_mpc.robots import load_robot  # noqa: E402
from jepa_mpc.robots.panda import DRIVER_JOINTS as PANDA_ROS_JOINTS  # noqa: E402
from jepa_mpc.ros_nodes.bringup import create_nodes, ros_args, teardown_graph  # noqa: E402
from jepa_mpc.ros_nodes.conversions import trajectory_to_array  # noqa: E402
from jepa_mpc.ros_nodes.demo import Operator  # noqa: E402
from jepa_mpc.ros_nodes.graph import GRAPHS, default_params  # noqa: E402

pytestmark = pytest.mark.slow


def _episode_endpoints(seed: int) -> tuple[np.ndarray, np.ndarray, object]:
    """Start and goal EE positions of the sim bridge's first episode for `seed` (same env, same seed), and the
    keep-out sphere of radius <= 4 cm that `jepa-mpc eval --keep-out-on-path` would put on its straight path (None
    when the whole arm at the start or goal leaves no room for one)."""
    import gymnasium

    import jepa_mpc.sim  # noqa: F401
    from jepa_mpc.apps.path_zone import path_zone
    from jepa_mpc.planner.config import GuardrailConfig, SafetyConfig
    from jepa_mpc.planner.safety import SafetyFilter

    env = gymnasium.make("jepa_mpc/PandaReach-v0").unwrapped
    env.reset(seed=seed)
    start, goal = env.ee_pos, env.goal_pos.copy()
    arm = SafetyFilter(SafetyConfig(), "panda")
    zone = path_zone(start, goal, arm.points(env.arm_qpos), arm.points(env.goal_arm_qpos),
                     GuardrailConfig().for_robot(arm.robot).radii, 0.04)
    env.close()
    return start, goal, zone


def _run_graph(seed: int, extra_args: list[str], timeout_s: float, until_distance: float | None):
    """Spin the sim graph with a pose goal; returns (operator, every commanded trajectory point [N, 7])."""
    context = rclpy.Context()
    # A light CEM (K=64): these tests check the graph's behaviour; in one Python process a heavy planner starves
    # message delivery and the watchdog holds (see launch/sim_arm.yaml).
    rclpy.init(args=[*ros_args(default_params("sim")), "-p", f"sim_bridge:seed:={seed}", "-p", "mpc:num_samples:=64",
                     *extra_args],
               context=context)
    nodes, commands, executor, op = [], [], None, None
    try:
        nodes = create_nodes(GRAPHS["sim"], context)
        op = Operator(context, "pose")
        op.node.create_subscription(
            JointTrajectory, "/joint_trajectory_controller/joint_trajectory",
            lambda m: commands.append(trajectory_to_array(m, PANDA_ROS_JOINTS)[0]), 50)
        executor = MultiThreadedExecutor(num_threads=4, context=context)
        for node in (*nodes, op.node):
            executor.add_node(node)
        start, settled = time.monotonic(), 0
        while time.monotonic() - start < timeout_s:
            executor.spin_once(timeout_sec=0.05)
            op.send_goal()
            if until_distance is not None and op.trace and op.trace[-1]["distance"] <= until_distance:
                settled += 1
                if settled > 20:
                    break
        return op, np.vstack(commands) if commands else np.zeros((0, 7))
    finally:
        teardown_graph(context, executor, nodes, [op.node] if op is not None else [])


def test_reaches_pose_goal_with_shipped_checkpoint():
    op, commands = _run_graph(seed=3, extra_args=[], timeout_s=45.0, until_distance=0.05)
    assert op.goal_sent and len(commands), "the graph must come up and command the arm"
    assert op.distance <= 0.05, f"final distance {op.distance:.3f} m after 45 s"


def test_keep_out_zone_on_straight_path_is_never_entered():
    seed = next(s for s in range(50) if (z := _episode_endpoints(s)[2]) is not None and z.radius >= 0.03)
    start, goal, zone = _episode_endpoints(seed)
    center, radius = np.asarray(zone.center), zone.radius
    sphere = ",".join(f"{v:.4f}" for v in (*center, radius))
    op, commands = _run_graph(seed=seed, extra_args=["-p", f"mpc:guardrails.keep_out_spheres:=[{sphere}]",
                                                      "-p", f"safety_filter:guardrails.keep_out_spheres:=[{sphere}]"],
                              timeout_s=25.0, until_distance=None)
    assert len(commands) > 50
    panda = load_robot("panda")
    ee_of = np.array([panda.tool_position(panda.from_driver(q)) for q in commands])  # commands: Franka's convention
    assert np.linalg.norm(ee_of - center, axis=1).min() >= radius, "a command put the EE inside the zone"
    travelled = np.linalg.norm(ee_of - start, axis=1).max()
    assert travelled > 0.03, "the arm should move towards the goal, not just freeze"
    measured = [r["distance"] for r in op.trace]
    assert min(measured) < np.linalg.norm(goal - start) - 0.02, "it made progress towards the goal"
