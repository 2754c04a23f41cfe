"""`sim_bridge` node: the MuJoCo Panda behind the same ROS interfaces a real arm with ros2_control offers.

Publishes /joint_states, /camera/image_raw and /camera/camera_info (one stamp per control tick, sensor-data QoS),
accepts arm commands as trajectory_msgs/JointTrajectory on the JointTrajectoryController topic and as
std_msgs/Float64MultiArray on the forward_position_controller topic, and offers ~/reset (std_srvs/Trigger) to
start a new episode. Each episode's goal is published latched on /sim/goal_image, /sim/goal_joint_states (the
joint positions the goal image shows, same stamp) and /sim/goal_pose.
With rate_factor > 1 it runs faster than real time and publishes /clock (other nodes then use_sim_time).
"""
from __future__ import annotations

import dataclasses
import math
import threading
import time

import numpy as np
from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from rclpy.qos import QoSDurabilityPolicy, QoSProfile, QoSReliabilityPolicy, qos_profile_sensor_data
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Float64MultiArray, Header
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from jepa_mpc.ros_nodes.conversions import (
    MessageError,
    joint_state_msg,
    rgb_to_image_msg,
    s_to_stamp,
    stamp_to_s,
    trajectory_to_array,
)
from jepa_mpc.ros_nodes.params import declare_config, param, spin_node_main
from jepa_mpc.sim.trajectory_follower import TrajectoryFollower

PANDA_ROS_JOINTS = tuple(f"panda_joint{i}" for i in range(1, 8))
PANDA_FINGER_JOINTS = ("panda_finger_joint1", "panda_finger_joint2")
LATCHED = QoSProfile(depth=1, durability=QoSDurabilityPolicy.TRANSIENT_LOCAL,
                     reliability=QoSReliabilityPolicy.RELIABLE)



@dataclasses.dataclass(frozen=True)
class SimBridgeConfig:
    """Parameters of the sim bridge node."""

    task: str = param("reach", "'reach' or 'push'", read_only=True)
    image_size: int = param(64, "camera image size, pixels", read_only=True)
    seed: int = param(0, "seed of the first episode; +1 per reset")
    control_period_s: float = param(0.1, "simulated time per tick", read_only=True)
    rate_factor: float = param(1.0, "sim speed / real time; != 1 publishes /clock")
    camera_pos: tuple = param((1.6, 0.9, 1.05), "camera position, m", read_only=True)
    camera_lookat: tuple = param((0.35, 0.0, 0.25), "camera target, m",
                                                                                       read_only=True)
    camera_frame_id: str = param("camera_color_optical_frame", "image frame id")
    joint_names: tuple = param(PANDA_ROS_JOINTS, "ROS names of the 7 arm joints")
    trajectory_topic: str = param("/joint_trajectory_controller/joint_trajectory", "JTC command topic", read_only=True)
    forward_topic: str = param("/forward_position_controller/commands", "forward position controller topic",
                               read_only=True)

    def __post_init__(self) -> None:
        if self.task not in ("reach", "push"):
            raise ValueError(f"task must be 'reach' or 'push', got {self.task!r}")
        if not (self.rate_factor > 0 and math.isfinite(self.rate_factor)):
            raise ValueError(f"rate_factor must be > 0, got {self.rate_factor}")
        if len(self.joint_names) != 7:
            raise ValueError(f"joint_names must name 7 arm joints, got {self.joint_names}")
        if len(self.camera_pos) != 3 or len(self.camera_lookat) != 3:
            raise ValueError("camera_pos and camera_lookat need 3 values each")


class SimBridgeNode(Node):
    """Steps the simulated arm once per control period and speaks the ros2_control topics.

    The simulation lives in its own thread (which owns the MuJoCo model and its GL context, as EGL contexts are
    bound to the thread that made them); ROS callbacks only hand it commands and reset requests.
    """

    def __init__(self, name: str = "sim_bridge", **kwargs) -> None:
        super().__init__(name, **kwargs)
        self.cfg: SimBridgeConfig = declare_config(self, SimBridgeConfig)
        self._seed = self.cfg.seed
        self._sim_time = 0.0
        self._lock = threading.Lock()  # guards the follower between callbacks and the sim thread
        self.follower: TrajectoryFollower | None = None
        self.rejected_commands = 0
        self.ticks = 0
        self.pub_joints = self.create_publisher(JointState, "/joint_states", qos_profile_sensor_data)
        self.pub_image = self.create_publisher(Image, "/camera/image_raw", qos_profile_sensor_data)
        self.pub_info = self.create_publisher(CameraInfo, "/camera/camera_info", qos_profile_sensor_data)
        self.pub_goal_image = self.create_publisher(Image, "/sim/goal_image", LATCHED)
        self.pub_goal_joints = self.create_publisher(JointState, "/sim/goal_joint_states", LATCHED)
        self.pub_goal_pose = self.create_publisher(PoseStamped, "/sim/goal_pose", LATCHED)
        self.pub_clock = self.create_publisher(Clock, "/clock", 10) if self.cfg.rate_factor != 1.0 else None
        self.create_subscription(JointTrajectory, self.cfg.trajectory_topic, self._on_trajectory, 10)
        self.create_subscription(Float64MultiArray, self.cfg.forward_topic, self._on_forward, 10)
        self.create_service(Trigger, "~/reset", self._on_reset)
        self._stop = threading.Event()
        self._reset_requested = threading.Event()
        self._reset_done = threading.Event()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="sim_bridge_physics", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout=60.0) or self._error is not None:
            self._stop.set()
            raise RuntimeError(f"simulation failed to start: {self._error}")

    # --------------------------------------------------------------------------------------------- time
    def now_s(self) -> float:
        """Simulated seconds when publishing /clock, else the node clock."""
        if self.pub_clock is not None:
            return self._sim_time
        return self.get_clock().now().nanoseconds * 1e-9

    # --------------------------------------------------------------------------------------------- sim thread
    def _run(self) -> None:
        from jepa_mpc.sim.arm_control import ArmControlConfig
        from jepa_mpc.sim.panda_env import PandaArmEnv
        from jepa_mpc.sim.panda_scene import CameraConfig

        try:
            self.env = PandaArmEnv(
                task=self.cfg.task, image_size=self.cfg.image_size,
                camera=CameraConfig(pos=tuple(self.cfg.camera_pos), lookat=tuple(self.cfg.camera_lookat)),
                control=ArmControlConfig(control_period_s=self.cfg.control_period_s))
            self._reset_episode()
        except BaseException as exc:  # reported to the constructor, which raises it
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        period = self.cfg.control_period_s / self.cfg.rate_factor
        deadline = time.monotonic()
        try:
            while not self._stop.is_set():
                if self._reset_requested.is_set():
                    self._reset_requested.clear()
                    self._reset_episode()
                    self._reset_done.set()
                self._tick()
                deadline += period
                delay = deadline - time.monotonic()
                if delay < -period:  # fell behind by more than a tick: don't try to catch up in a burst
                    deadline = time.monotonic()
                self._stop.wait(max(0.0, delay))
        finally:
            self.env.close()

    def _reset_episode(self) -> None:
        obs, info = self.env.reset(seed=self._seed)
        self._seed += 1
        with self._lock:
            self.follower = TrajectoryFollower(self.env.joint_targets)
        stamp = s_to_stamp(self.now_s())
        goal_q = info["goal_joint_pos"]
        self.pub_goal_joints.publish(joint_state_msg((*self.cfg.joint_names, *PANDA_FINGER_JOINTS), goal_q,
                                                     np.zeros_like(goal_q), stamp))
        self.pub_goal_image.publish(rgb_to_image_msg(info["goal_image"], stamp, self.cfg.camera_frame_id))
        goal = PoseStamped(header=Header(stamp=stamp, frame_id="world"))
        goal.pose.position.x, goal.pose.position.y, goal.pose.position.z = (float(v) for v in self.env.goal_pos)
        goal.pose.orientation.w = 1.0
        self.pub_goal_pose.publish(goal)
        self._publish(obs)

    def _tick(self) -> None:
        with self._lock:
            target = self.follower.target_at(self.now_s() + self.cfg.control_period_s)
        obs = self.env.step_to_targets(target)[0]
        if self.pub_clock is not None:
            self._sim_time += self.cfg.control_period_s
            self.pub_clock.publish(Clock(clock=s_to_stamp(self._sim_time)))
        self.ticks += 1
        self._publish(obs)

    # --------------------------------------------------------------------------------------------- callbacks
    def _on_reset(self, request, response):
        self._reset_done.clear()
        self._reset_requested.set()
        response.success = self._reset_done.wait(timeout=5.0)
        response.message = f"new episode, seed {self._seed - 1}" if response.success else "simulation not responding"
        return response

    def _on_trajectory(self, msg: JointTrajectory) -> None:
        try:
            positions, times = trajectory_to_array(msg, self.cfg.joint_names)
            now = self.now_s()
            start = stamp_to_s(msg.header.stamp) or now
            with self._lock:
                self.follower.set_trajectory(positions, times, start, now)
        except (MessageError, ValueError) as exc:
            self.rejected_commands += 1
            self.get_logger().warning(f"rejected trajectory: {exc}", throttle_duration_sec=1.0)

    def _on_forward(self, msg: Float64MultiArray) -> None:
        target = np.asarray(msg.data, dtype=np.float64)
        if target.shape != (7,) or not np.all(np.isfinite(target)):
            self.rejected_commands += 1
            self.get_logger().warning(f"rejected forward command of {len(msg.data)} values", throttle_duration_sec=1.0)
            return
        with self._lock:
            self.follower.hold(target)

    # --------------------------------------------------------------------------------------------- publish
    def _publish(self, obs: dict) -> None:
        stamp = s_to_stamp(self.now_s())
        self.pub_joints.publish(joint_state_msg((*self.cfg.joint_names, *PANDA_FINGER_JOINTS), obs["joint_pos"],
                                                obs["joint_vel"], stamp))
        self.pub_image.publish(rgb_to_image_msg(obs["image"], stamp, self.cfg.camera_frame_id))
        self.pub_info.publish(self._camera_info(stamp))

    def _camera_info(self, stamp) -> CameraInfo:
        size = self.cfg.image_size
        f = 0.5 * size / math.tan(math.radians(self.env.camera.fovy_deg) / 2)
        c = (size - 1) / 2
        return CameraInfo(header=Header(stamp=stamp, frame_id=self.cfg.camera_frame_id), height=size, width=size,
                          distortion_model="plumb_bob", d=[0.0] * 5, k=[f, 0.0, c, 0.0, f, c, 0.0, 0.0, 1.0],
                          r=[1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0], p=[f, 0.0, c, 0.0, 0.0, f, c, 0.0, 0.0, 0.0, 1.0, 0.0])

    def destroy_node(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5.0)
        super().destroy_node()


def main(args=None) -> None:
    """`ros2 run jepa_mpc sim_bridge` entry point."""
    spin_node_main(SimBridgeNode, args)

if __name__ == "__main__":
    main()
