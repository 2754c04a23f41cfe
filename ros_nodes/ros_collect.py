"""`jepa-mpc collect --through-ros`: exploration data from a running graph (sim or real), recorded as a cell records
it: one rosbag2 directory per episode with the camera as published, the joint states and the commands the arm
actually received; no simulator state is read. `jepa-mpc dataset from-bag DIR/episodes/*` makes it a dataset.

    jepa-mpc bringup sim --processes per-node &          # or a real cell: its driver, mpc off, safety_filter on
    jepa-mpc collect --through-ros --episodes 20 --steps 60 --out data/bags
    jepa-mpc dataset from-bag data/bags/episodes/* --out data/cell

Each control period the explorer publishes a plan on /planned_trajectory, so every command goes through the
safety_filter node exactly as the mpc's do (start the graph without an active goal, or with the mpc node not
active, so that only the explorer plans). Policies, drawn per episode: `random` (temporally correlated joint
steps) and `reach` (towards random joint configurations within `range_rad` of where the episode starts, inside the
limits, with noise; a new one on arrival). The range keeps the data around the cell's working pose, as an operator
exploring a real cell would: an arm with +-2 pi joints explored over its whole range would spend the data far
from where its tasks are, and in the safety filter's holds. Episodes start with the
sim bridge's ~/reset when it is there (a real cell: wherever the arm is). Resumable: finished episode directories
are kept and skipped; Ctrl-C loses only the episode under way (its .partial directory is removed). Each episode's
sidecar (DIR/info/ep_NNNNNN.json) says its policy, steps and the safety filter's holds: an episode cut by a hold
is marked.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import pathlib
import shutil
import time

import numpy as np

from jepa_mpc.models.atomic_io import atomic_write_json
from jepa_mpc.ros_nodes.bag_dataset import COMMAND_TOPIC

POLICIES = ("random", "reach")
PLAN_POINTS = 5
RESET_SETTLE_S = 0.5
"""Wait after a sim reset before the episode's first plan: longer than sim_bridge's reset_grace_s (0.3 s), in which
commands are ignored (recorded commands the arm never executed would be wrong training data)."""


class Explorer:
    """Plans for one episode: a policy's next H actions integrated from where the arm was last commanded."""

    ARRIVED_RAD = 0.05
    """Every joint this close to the reach target: draw the next one."""

    def __init__(self, robot, policy: str, rng: np.random.Generator, arm_cfg, range_rad: float = 0.6) -> None:
        self.robot, self.policy, self.rng, self.arm_cfg, self.range_rad = robot, policy, rng, arm_cfg, range_rad
        self.prev = np.zeros(robot.dof)
        self.start: np.ndarray | None = None
        self.target: np.ndarray | None = None

    def _draw_target(self) -> np.ndarray:
        """A joint configuration within range_rad of the episode's start, inside the limits (less 5 %)."""
        margin = 0.05 * (self.robot.upper - self.robot.lower)
        q = self.start + self.rng.uniform(-self.range_rad, self.range_rad, self.robot.dof)
        return np.clip(q, self.robot.lower + margin, self.robot.upper - margin)

    def actions(self, q: np.ndarray) -> np.ndarray:
        """[PLAN_POINTS, dof] actions in [-1, 1] from the commanded position q (model convention)."""
        if self.policy == "random":
            self.prev = np.clip(0.8 * self.prev + 0.6 * self.rng.standard_normal(self.robot.dof), -1.0, 1.0)
            step = self.prev
        else:  # reach: towards the target joint configuration, at most one step per joint, with noise
            if self.start is None:
                self.start = np.asarray(q, dtype=np.float64).copy()
            if self.target is None or np.all(np.abs(self.target - q) < self.ARRIVED_RAD):
                self.target = self._draw_target()
            step = np.clip((self.target - q) / self.arm_cfg.max_joint_step_rad, -1.0, 1.0)
            step = np.clip(step + 0.3 * self.rng.standard_normal(self.robot.dof), -1.0, 1.0)
        return np.repeat(step[None], PLAN_POINTS, axis=0)

    def held(self) -> None:
        """The safety filter held the arm: turn away (a new reach target; the random walk reverses) instead of
        pushing on into the guardrail for the rest of the episode."""
        self.target, self.prev = None, -self.prev


def collect_through_ros(out, episodes: int, steps: int, *, robot_name: str = "panda", seed: int = 0,
                        policy: str = "mix", control_period_s: float = 0.1, image_topic: str = "/camera/image_raw",
                        compressed: bool = False, reset_service: str = "/sim_bridge/reset", range_rad: float = 0.6,
                        wait_s: float = 30.0, ros_args: list[str] | None = None, progress: bool = True) -> dict:
    """Record `episodes` episodes of `steps` control periods into out/episodes/ep_NNNNNN (rosbag2 directories)."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.logging import LoggingSeverity
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import JointState
    from std_srvs.srv import Trigger
    from trajectory_msgs.msg import JointTrajectory

    from jepa_mpc.robots import load_robot
    from jepa_mpc.robots.arm_control import ArmControlConfig, integrate_targets
    from jepa_mpc.ros_nodes.conversions import (
        MessageError,
        joint_state_to_arrays,
        s_to_stamp,
        trajectory_msg,
        trajectory_to_array,
    )
    from jepa_mpc.ros_nodes.recorder import RecorderNode
    from jepa_mpc.ros_nodes.rosbag2_dir import Rosbag2DirWriter

    robot = load_robot(robot_name)
    arm_cfg = ArmControlConfig(control_period_s=control_period_s)
    command_topic = COMMAND_TOPIC
    camera = image_topic.rstrip("/") + "/compressed" if compressed else image_topic
    topics = ["/joint_states", camera, "/camera/camera_info", command_topic, "/sim/goal_image",
              "/sim/goal_joint_states", "/sim/goal_pose", "/diagnostics"]
    folder = pathlib.Path(out) / "episodes"
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.partial"):  # an episode a previous run was killed in
        shutil.rmtree(stale)
    context = rclpy.Context()
    rclpy.init(args=ros_args, context=context)
    node = rclpy.create_node("explorer", context=context)
    state = {"q": None, "q_at": -math.inf, "commanded": None, "holds": 0, "why": ""}

    def on_joints(msg) -> None:
        with contextlib.suppress(MessageError):  # the safety filter reports bad messages; here they are skipped
            state["q"] = robot.from_driver(joint_state_to_arrays(msg, robot.joint_names)[0])
            state["q_at"] = time.monotonic()

    def on_command(msg) -> None:
        with contextlib.suppress(MessageError):
            state["commanded"] = robot.from_driver(trajectory_to_array(msg, robot.joint_names)[0][0])

    def on_diag(msg) -> None:
        for status in msg.status:
            if status.name == "safety_filter" and status.message.startswith("HOLD"):
                state["holds"] += 1
                state["why"] = state["why"] or status.message

    from diagnostic_msgs.msg import DiagnosticArray

    node.create_subscription(JointState, "/joint_states", on_joints, qos_profile_sensor_data)
    node.create_subscription(JointTrajectory, command_topic, on_command, 10)
    node.create_subscription(DiagnosticArray, "/diagnostics", on_diag, 50)
    plans = node.create_publisher(JointTrajectory, "/planned_trajectory", 10)
    reset = node.create_client(Trigger, reset_service)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    summary = {"episodes": [], "skipped": 0, "interrupted": False}

    def spin_for(seconds: float, until=lambda: False) -> bool:
        end = time.monotonic() + seconds
        while time.monotonic() < end and context.ok():
            if until():
                return True
            executor.spin_once(timeout_sec=0.01)
        return until()

    try:
        if not spin_for(wait_s, lambda: state["q"] is not None and plans.get_subscription_count() > 0):
            raise RuntimeError(f"no joint states or no safety_filter on /planned_trajectory within {wait_s:.0f} s: "
                               "start the graph first (jepa-mpc bringup sim)")
        for index in range(episodes):
            if not context.ok():  # Ctrl-C: rclpy's handler shut the context down; the episode under way is gone
                summary["interrupted"] = True
                break
            name = f"ep_{index:06d}"
            if (folder / name).is_dir():
                summary["skipped"] += 1
                continue
            rng = np.random.default_rng([seed, index])
            chosen = policy if policy in POLICIES else POLICIES[int(rng.integers(len(POLICIES)))]
            if reset.service_is_ready():
                future = reset.call_async(Trigger.Request())
                spin_for(10.0, future.done)
                state["q"] = state["commanded"] = None  # plan from where the new episode starts the arm
                spin_for(wait_s, lambda: state["q"] is not None)
                spin_for(RESET_SETTLE_S)  # sim_bridge ignores commands for its reset_grace_s after a reset
            writer = Rosbag2DirWriter(folder / name)
            recorder = RecorderNode(writer, topics, name=f"recorder_{index}", context=context)
            recorder.get_logger().set_level(LoggingSeverity.WARN)  # not 8 "recording <topic>" lines per episode
            executor.add_node(recorder)
            finished = False
            try:
                essential = (topics[0], topics[1], topics[3])  # joint states, camera, commands

                def recording(recorder=recorder, essential=essential) -> bool:
                    return all(t in recorder.subscribed for t in essential)

                if not spin_for(5.0, recording):
                    missing = [t for t in essential if t not in recorder.subscribed]
                    raise RuntimeError(f"nothing publishes {missing}: check the graph (and --image-transport)")
                explorer, state["holds"], state["why"] = Explorer(robot, chosen, rng, arm_cfg, range_rad), 0, ""
                planned_at, holds_seen = -math.inf, 0
                for k in range(steps):
                    # plan on the arm's tick: the first joint state a control period after the last plan (a driver
                    # publishing faster is decimated; the sim publishes one per tick, with its frame), so each step
                    # has a frame of its own; a driver that falls silent gets plans every period regardless
                    next_at = planned_at + 0.9 * control_period_s
                    spin_for(max(0.0, next_at - time.monotonic()))
                    spin_for(control_period_s, lambda next_at=next_at: state["q_at"] >= next_at)
                    planned_at = time.monotonic()
                    if state["holds"] > holds_seen:
                        explorer.held()
                        holds_seen = state["holds"]
                    q0 = state["commanded"] if state["commanded"] is not None else state["q"]
                    if q0 is None:
                        raise RuntimeError(f"no joint states for {wait_s:.0f} s after the reset of episode {index}")
                    positions = integrate_targets(q0, explorer.actions(q0), robot.lower, robot.upper, arm_cfg)
                    plans.publish(trajectory_msg(robot.joint_names, robot.to_driver(positions), control_period_s,
                                                 s_to_stamp(node.get_clock().now().nanoseconds * 1e-9)))
                    if progress:
                        print(f"\rcollect --through-ros: episode {index + 1}/{episodes} ({chosen}) step {k + 1}/"  # noqa: T201
                              f"{steps}, holds {state['holds']}", end="", flush=True)
                finished = context.ok()
            finally:
                executor.remove_node(recorder)
                recorder.destroy_node()
                if finished:
                    writer.close()  # DIR.partial -> DIR: the episode exists only now
                else:  # interrupted: this episode is lost, none before it
                    writer.mcap.close()
                    shutil.rmtree(writer.partial, ignore_errors=True)
            info = {"episode": name, "policy": chosen, "steps": steps, "holds": state["holds"],
                    "cut_by_hold": state["holds"] > 0, "first_hold": state["why"], "seed": [seed, index]}
            (folder.parent / "info").mkdir(exist_ok=True)
            atomic_write_json(folder.parent / "info" / f"{name}.json", info)
            summary["episodes"].append(info)
    finally:
        if progress:
            print()  # noqa: T201
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=context)
    return summary


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The --through-ros options of `jepa-mpc collect` (the shared ones are in sim/collect.py)."""
    group = parser.add_argument_group("--through-ros")
    group.add_argument("--through-ros", action="store_true", help="drive a running ROS graph (sim or real) through "
                       "its safety filter and record rosbag2 episodes, no simulator state (ros_nodes/ros_collect.py)")
    group.add_argument("--control-period-s", type=float, default=0.1, help="--through-ros: the graph's period")
    group.add_argument("--image-transport", choices=["raw", "compressed"], default="raw",
                       help="--through-ros: record the camera raw or on <topic>/compressed")
    group.add_argument("--explore-range-rad", type=float, default=0.6, help="--through-ros: the reach explorer's "
                       "targets lie within this many radians of each joint's position at the episode's start")


def run(args: argparse.Namespace) -> int:
    """`jepa-mpc collect --through-ros ...`."""
    if args.episodes < 1 or not args.steps or args.steps < 2:
        raise SystemExit("--through-ros needs --episodes >= 1 and --steps >= 2")
    if not (math.isfinite(args.explore_range_rad) and args.explore_range_rad > 0):
        raise SystemExit(f"--explore-range-rad must be > 0, got {args.explore_range_rad}")
    if not (math.isfinite(args.control_period_s) and args.control_period_s > 0):
        raise SystemExit(f"--control-period-s must be > 0, got {args.control_period_s}")
    policy = args.policy if args.policy in POLICIES else "mix"
    try:
        summary = collect_through_ros(args.out, args.episodes, args.steps, robot_name=args.robot or "panda",
                                      seed=args.seed, policy=policy, control_period_s=args.control_period_s,
                                      compressed=args.image_transport == "compressed",
                                      range_rad=args.explore_range_rad,
                                      progress=not args.no_progress)
    except KeyboardInterrupt:  # raised inside a callback or a wait, before rclpy's handler shut the context down
        summary = {"interrupted": True}
    except RuntimeError as exc:
        raise SystemExit(f"jepa-mpc collect --through-ros: {exc}") from exc
    if summary["interrupted"]:
        print("\ninterrupted: finished episodes are kept; run the same command again to continue")  # noqa: T201
        return 130
    cut = sum(e["cut_by_hold"] for e in summary["episodes"])
    print(f"{len(summary['episodes'])} episodes recorded ({summary['skipped']} already there), {cut} cut by a "  # noqa: T201
          f"safety hold, in {pathlib.Path(args.out) / 'episodes'}; next: jepa-mpc dataset from-bag "
          f"{pathlib.Path(args.out) / 'episodes'}/ep_* --out DATA")
    (pathlib.Path(args.out) / "collect_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return 0
