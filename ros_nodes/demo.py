"""`jepa-mpc demo`: bring up the sim graph, give it the episode's goal, reach it, and show what happened.

Starts sim_bridge + mpc + safety_filter (the `sim` graph with launch/sim_arm.yaml) in this process, plus an
operator node that forwards the simulator's goal (image or pose) to the planner, prints a live status line
(distance to goal, plan latency, guardrail state), and records the camera. It stops when the end effector has
stayed within the success tolerance for `--settle` ticks or at `--timeout`, then writes a GIF (camera beside the
goal image), a plot (distance and plan latency over time) and a JSON summary, and exits 0 on success.

`--robot FILE_OR_NAME` sets every node's robot_description (the embedded Panda by default; any other arm runs
ArmReach-v0 and plans pose goals through its kinematics: the shipped world model is the Panda's). Without
`--goal`, the goal is an image when the planner has a world model of the arm, else a pose.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time

import numpy as np


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--goal", choices=["image", "pose"], default=None,
                        help="goal given to the planner (default: image when the planner has a world model of the "
                             "arm, else pose)")
    parser.add_argument("--robot", default=None, metavar="FILE_OR_NAME",
                        help="the arm: panda, robosuite:NAME, pybullet_data:PATH, or a URDF/MJCF file (sets every "
                             "node's robot_description; default: the parameter file's, the embedded Panda)")
    parser.add_argument("--params", type=pathlib.Path, default=None, help="YAML parameters (default sim_arm.yaml)")
    parser.add_argument("--checkpoint", default="", help="world-model checkpoint (default: the shipped one)")
    parser.add_argument("--seed", type=int, default=0, help="episode seed (picks the goal)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds before giving up")
    parser.add_argument("--settle", type=int, default=5, help="ticks within tolerance that count as reached")
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("runs/demo"), help="output folder")
    parser.add_argument("--quiet", action="store_true", help="no live status line")


class Operator:
    """The demo's operator node: forwards the goal, tracks progress, records frames."""

    def __init__(self, context, goal_kind: str, robot="panda", joint_names=None) -> None:
        """`robot`: the arm the sim runs (a Robot or what load_robot takes); `joint_names`: its driver names on
        /joint_states (default: the robot's)."""
        from diagnostic_msgs.msg import DiagnosticArray
        from geometry_msgs.msg import PoseStamped
        from rclpy.node import Node
        from rclpy.qos import qos_profile_sensor_data
        from sensor_msgs.msg import Image, JointState

        from jepa_mpc.robots import load_robot
        from jepa_mpc.ros_nodes.sim_bridge import LATCHED

        self.node = Node("demo_operator", context=context)
        self.goal_kind = goal_kind
        self.robot = load_robot(robot)
        self.joint_names = tuple(joint_names or self.robot.joint_names)
        self.goal_pos: np.ndarray | None = None
        self.goal_image: np.ndarray | None = None
        self.goal_sent = False
        self.frames: list[np.ndarray] = []
        self.trace: list[dict] = []
        self.plan_ms = float("nan")
        self.plan_status = "-"
        self.safety = "-"
        self.distance = float("nan")
        self.pub_goal_image = self.node.create_publisher(Image, "/goal_image", 10)
        self.pub_goal_pose = self.node.create_publisher(PoseStamped, "/goal_pose", 10)
        self.pub_goal_joints = self.node.create_publisher(JointState, "/goal_joint_states", 10)
        self.node.create_subscription(Image, "/sim/goal_image", self._on_goal_image, LATCHED)
        self.node.create_subscription(JointState, "/sim/goal_joint_states", self._on_goal_joints, LATCHED)
        self.node.create_subscription(PoseStamped, "/sim/goal_pose", self._on_goal_pose, LATCHED)
        self.node.create_subscription(Image, "/camera/image_raw", self._on_image, qos_profile_sensor_data)
        self.node.create_subscription(JointState, "/joint_states", self._on_joints, qos_profile_sensor_data)
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, 10)
        self._goal_msgs = {}

    def _on_goal_image(self, msg) -> None:
        from jepa_mpc.ros_nodes.conversions import image_msg_to_rgb

        self._goal_msgs["image"] = msg
        self.goal_image = image_msg_to_rgb(msg)

    def _on_goal_joints(self, msg) -> None:
        self._goal_msgs["joints"] = msg

    def _on_goal_pose(self, msg) -> None:
        self._goal_msgs["pose"] = msg
        p = msg.pose.position
        self.goal_pos = np.array([p.x, p.y, p.z])

    def send_goal(self) -> bool:
        """Forward the simulator's goal to the planner once all goal messages have arrived."""
        if self.goal_sent or any(k not in self._goal_msgs for k in ("image", "joints", "pose")):
            return self.goal_sent
        if self.pub_goal_image.get_subscription_count() == 0 or self.pub_goal_joints.get_subscription_count() == 0:
            return False  # wait for the planner to subscribe
        if self.goal_kind == "image":  # the image and the joint positions it shows, same stamp
            self.pub_goal_joints.publish(self._goal_msgs["joints"])
            self.pub_goal_image.publish(self._goal_msgs["image"])
        else:
            self.pub_goal_pose.publish(self._goal_msgs["pose"])
        self.goal_sent = True
        return True

    def _on_image(self, msg) -> None:
        from jepa_mpc.ros_nodes.conversions import image_msg_to_rgb

        if self.goal_sent:
            self.frames.append(image_msg_to_rgb(msg))

    def tool_position(self, msg) -> np.ndarray | None:
        """The tool point (world) for a /joint_states message (driver convention), from the arm's kinematics."""
        from jepa_mpc.ros_nodes.conversions import MessageError, joint_state_to_arrays

        try:
            q, _ = joint_state_to_arrays(msg, self.joint_names)
        except MessageError:
            return None
        return self.robot.tool_position(self.robot.from_driver(q))

    def _on_joints(self, msg) -> None:
        if self.goal_pos is None:
            return
        tool = self.tool_position(msg)
        if tool is None:
            return
        self.distance = float(np.linalg.norm(tool - self.goal_pos))
        if self.goal_sent:
            self.trace.append({"t": time.monotonic(), "distance": self.distance, "plan_ms": self.plan_ms,
                               "safety": self.safety})

    def _on_diag(self, msg) -> None:
        for status in msg.status:
            values = {kv.key: kv.value for kv in status.values}
            if status.name == "mpc":
                self.plan_status = status.message
                if "plan_ms" in values:
                    self.plan_ms = float(values["plan_ms"])
            elif status.name == "safety_filter":
                self.safety = status.message


def _write_outputs(op: Operator, out: pathlib.Path, summary: dict) -> None:
    import imageio
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    if op.frames and op.goal_image is not None:
        goal = np.kron(op.goal_image, np.ones((4, 4, 1), np.uint8))
        frames = [np.concatenate([np.kron(f, np.ones((4, 4, 1), np.uint8)), goal], axis=1) for f in op.frames]
        imageio.mimsave(out / "demo.gif", frames[::2], duration=0.2, loop=0)
    if op.trace:
        t0 = op.trace[0]["t"]
        t = [r["t"] - t0 for r in op.trace]
        fig, (a1, a2) = plt.subplots(2, 1, figsize=(7, 5), sharex=True)
        a1.plot(t, [r["distance"] for r in op.trace])
        a1.axhline(0.05, color="k", ls="--", lw=0.8, label="success tolerance")
        a1.set_ylabel("EE distance to goal (m)")
        a1.legend()
        a2.plot(t, [r["plan_ms"] for r in op.trace], color="C1")
        a2.set_ylabel("plan latency (ms)")
        a2.set_xlabel("time (s)")
        fig.suptitle(f"jepa-mpc demo: {summary['result']}")
        fig.tight_layout()
        fig.savefig(out / "demo.png", dpi=110)
        plt.close(fig)
    (out / "demo.json").write_text(json.dumps(summary, indent=2))


def _goal_kind(asked: str | None, mpc) -> str:
    """The goal to give: `asked`, or image when the planner has a world model of the arm, else pose. SystemExit
    when an image goal is asked for an arm the planner has no world model of."""
    refusal = getattr(mpc, "image_goal_refusal", "")
    if asked == "image" and refusal:
        raise SystemExit(f"jepa-mpc demo: no image goal on this arm: {refusal}; use --goal pose")
    if asked is None:
        return "pose" if refusal else "image"
    return asked


def run(args: argparse.Namespace) -> int:
    import rclpy
    from rclpy.executors import MultiThreadedExecutor

    from jepa_mpc.ros_nodes.bringup import create_nodes, robot_overrides, ros_args, teardown_graph
    from jepa_mpc.ros_nodes.graph import GRAPHS, default_params
    from jepa_mpc.ros_nodes.robot_param import NodeStartupError

    params = args.params or default_params("sim")
    context = rclpy.Context()
    overrides = ["-p", f"sim_bridge:seed:={args.seed}"]
    if args.robot is not None:
        if not args.robot.strip():
            raise SystemExit("jepa-mpc demo: --robot needs a robot name or a file (the simulator builds the arm)")
        overrides += robot_overrides(args.robot, [s.name for s in GRAPHS["sim"]])
    if args.checkpoint:  # empty means the YAML's choice (by default the shipped checkpoint)
        overrides += ["-p", f"mpc:checkpoint:={args.checkpoint}"]
    rclpy.init(args=[*ros_args(params), *overrides], context=context)
    nodes, executor, op = [], None, None
    summary = {"result": "not started"}
    try:
        try:
            nodes = create_nodes(GRAPHS["sim"], context)
        except (NodeStartupError, RuntimeError) as exc:
            raise SystemExit(f"jepa-mpc demo: {exc}") from None
        sim, mpc = nodes[0], nodes[1]
        goal_kind = _goal_kind(args.goal, mpc)
        op = Operator(context, goal_kind, sim.robot, sim.joint_names)
        executor = MultiThreadedExecutor(num_threads=4, context=context)
        for node in (*nodes, op.node):
            executor.add_node(node)
        start, reached_ticks, last_print, ticks_seen = time.monotonic(), 0, 0.0, 0
        while time.monotonic() - start < args.timeout:
            executor.spin_once(timeout_sec=0.05)
            op.send_goal()
            if len(op.trace) > ticks_seen:
                ticks_seen = len(op.trace)
                reached_ticks = reached_ticks + 1 if op.distance <= 0.05 else 0
            now = time.monotonic()
            if not args.quiet and now - last_print > 0.25:
                sys.stdout.write(f"\r t={now - start:5.1f}s  goal={goal_kind}  distance={op.distance:6.3f} m  "
                                 f"plan={op.plan_ms:6.1f} ms ({op.plan_status})  guardrails: {op.safety[:40]:40s}")
                sys.stdout.flush()
                last_print = now
            if reached_ticks >= args.settle:
                break
        reached = reached_ticks >= args.settle
        plan_ms = [r["plan_ms"] for r in op.trace if np.isfinite(r["plan_ms"])]
        summary = {
            "result": "reached" if reached else "timeout", "robot": sim.robot.name, "goal": goal_kind,
            "seed": args.seed, "final_distance_m": op.distance, "time_s": time.monotonic() - start,
            "steps": len(op.trace),
            "plan_ms_p50": float(np.percentile(plan_ms, 50)) if plan_ms else None,
            "plan_ms_p99": float(np.percentile(plan_ms, 99)) if plan_ms else None,
            "safety_holds": nodes[2].counts["hold"] if len(nodes) > 2 else None,
        }
    finally:
        teardown_graph(context, executor, nodes, [op.node] if op is not None else [])
    if not args.quiet:
        print()
    if op is not None:
        _write_outputs(op, args.out, summary)
    print(json.dumps(summary, indent=2))
    print(f"wrote {args.out}/demo.gif, demo.png, demo.json")
    return 0 if summary["result"] == "reached" else 1

