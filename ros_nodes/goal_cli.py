"""`jepa-mpc goal`: send the planner a goal pose, a goal image file, or capture the current frame as the goal.

    jepa-mpc goal pose 0.5 0.1 0.3        # tool position, world frame, metres: whichever arm the mpc node runs
    jepa-mpc goal image goal.png          # any image file (PNG, JPEG, grey, RGBA...) at its own size: the mpc node
                                          # crops and resizes it as it does the camera's frames
    jepa-mpc goal image goal.png --joints 0 -0.1 0 -2.3 0 2.17 0.8 0.04 0.04  # + the joint positions it shows
                                          # (a checkpoint that reads joint positions needs them; same stamp; in the
                                          # driver's convention, like /joint_states: Franka's joint 6 here)
    jepa-mpc goal capture                 # the mpc node keeps its current camera frame as the goal
    jepa-mpc goal clear                   # no goal: the arm holds
"""
from __future__ import annotations

import argparse
import math
import time


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="kind", required=True)
    pose = sub.add_parser("pose", help="goal end-effector position")
    for axis in "xyz":
        pose.add_argument(axis, type=float)
    pose.add_argument("--frame", default="world")
    image = sub.add_parser("image", help="goal image file (PNG/JPEG)")
    image.add_argument("file")
    image.add_argument("--size", type=int, default=0, help="resize to SIZExSIZE before sending; 0 (default): "
                       "send it as it is and let the mpc node preprocess it like a camera frame")
    image.add_argument("--joints", type=float, nargs="+", metavar="Q",
                       help="joint positions shown in the image (rad; m for fingers), in --joint-names order, in "
                            "the driver's convention (as /joint_states reports them)")
    image.add_argument("--joint-names", nargs="+", default=None,
                       help="names for --joints (default: the embedded Panda's arm and finger joints, the mpc node's "
                            "proprio_joint_names for it)")
    sub.add_parser("capture", help="use the current camera frame as the goal")
    sub.add_parser("clear", help="drop the goal (hold)")
    parser.add_argument("--node", default="mpc", help="name of the mpc node")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the mpc node")


def _wait_for_ack(publisher, timeout_s: float) -> None:
    """Block until every matched subscriber has the message (reliable QoS), so it is not lost when this short-lived
    node is destroyed right after; a subscriber that the publisher has matched may not have matched it back yet."""
    from rclpy.duration import Duration

    if not publisher.wait_for_all_acked(Duration(seconds=timeout_s)):
        raise SystemExit(f"the goal on {publisher.topic_name} was not acknowledged within {timeout_s} s")


def _wait_for_subscriber(node, publisher, timeout_s: float) -> bool:
    import rclpy

    deadline = time.monotonic() + timeout_s
    while publisher.get_subscription_count() == 0 and time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.05)
    return publisher.get_subscription_count() > 0


def _goal_joint_names(args: argparse.Namespace) -> tuple[str, ...]:
    """Names for `goal image --joints` (empty without --joints); SystemExit on a count mismatch or non-finite value."""
    if args.kind != "image" or not args.joints:
        return ()
    from jepa_mpc.robots.panda import DRIVER_FINGER_JOINTS, DRIVER_JOINTS

    names = tuple(args.joint_names or (*DRIVER_JOINTS, *DRIVER_FINGER_JOINTS))
    if len(names) != len(args.joints):
        raise SystemExit(f"--joints has {len(args.joints)} values but there are {len(names)} joint names {names}")
    if not all(math.isfinite(v) for v in args.joints):
        raise SystemExit("--joints must be finite numbers")
    return names


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import rclpy
    from geometry_msgs.msg import PoseStamped
    from sensor_msgs.msg import Image, JointState
    from std_srvs.srv import Trigger

    from jepa_mpc.ros_nodes.conversions import joint_state_msg, rgb_to_image_msg

    if args.kind == "pose" and not all(math.isfinite(v) for v in (args.x, args.y, args.z)):
        raise SystemExit("pose coordinates must be finite numbers")
    joint_names = _goal_joint_names(args)
    rgb = None
    if args.kind == "image":
        from PIL import Image as PILImage

        try:
            with PILImage.open(args.file) as image:
                image = image.convert("RGB")  # grey, palette, RGBA, 16-bit: all as the colour frame a camera sends
        except Exception as exc:  # noqa: BLE001 - Pillow raises many types for unreadable files
            raise SystemExit(f"cannot read image {args.file}: {exc}") from exc
        if args.size < 0:
            raise SystemExit(f"--size must be >= 0, got {args.size}")
        rgb = np.asarray(image.resize((args.size, args.size), PILImage.Resampling.BOX) if args.size else image)
    rclpy.init()
    node = rclpy.create_node("jepa_mpc_goal_cli")
    try:
        stamp = node.get_clock().now().to_msg()
        if args.kind in ("capture", "clear"):
            client = node.create_client(Trigger, f"/{args.node}/{args.kind}_goal")
            if not client.wait_for_service(timeout_sec=args.timeout):
                raise SystemExit(f"service /{args.node}/{args.kind}_goal not available (is the mpc node running?)")
            future = client.call_async(Trigger.Request())
            rclpy.spin_until_future_complete(node, future, timeout_sec=args.timeout)
            if not future.done() or not future.result().success:
                raise SystemExit(f"{args.kind} failed: {future.result().message if future.done() else 'timeout'}")
            print(future.result().message)
            return 0
        if args.kind == "pose":
            pub = node.create_publisher(PoseStamped, "/goal_pose", 10)
            msg = PoseStamped()
            msg.header.stamp, msg.header.frame_id = stamp, args.frame
            msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = args.x, args.y, args.z
            msg.pose.orientation.w = 1.0
        else:
            pub = node.create_publisher(Image, "/goal_image", 10)
            msg = rgb_to_image_msg(rgb, stamp, "goal")
        if joint_names:  # first the joints, then the image with the same stamp: the mpc node pairs them by stamp
            joints_pub = node.create_publisher(JointState, "/goal_joint_states", 10)
            if not _wait_for_subscriber(node, joints_pub, args.timeout):
                raise SystemExit(f"nobody subscribes to {joints_pub.topic_name} (is the mpc node running?)")
            joints_pub.publish(joint_state_msg(joint_names, args.joints, [0.0] * len(args.joints), stamp))
            _wait_for_ack(joints_pub, args.timeout)
        if not _wait_for_subscriber(node, pub, args.timeout):
            raise SystemExit(f"nobody subscribes to {pub.topic_name} (is the mpc node running?)")
        pub.publish(msg)
        _wait_for_ack(pub, args.timeout)
        print(f"sent {args.kind} goal on {pub.topic_name}")
        return 0
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
