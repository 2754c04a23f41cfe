"""`sim_bridge` node: a MuJoCo arm behind the same ROS interfaces a real arm with ros2_control offers.

The arm is the `robot_description` parameter (ros_nodes/robot_param.py): the embedded Panda runs the Panda scene
(`task: reach` or `push`, sim/panda_env.py); any other description runs `jepa_mpc/ArmReach-v0` around that arm
(sim/arm_env.py: the arm on a table, a camera placed from its reach, a reach goal per episode).
Publishes /joint_states (the arm joints, then the fingers when the robot has them, once per control tick) and a
camera as a real driver does: /camera/image_raw (rgb8, bgr8, mono8) or /camera/image_raw/compressed (JPEG, PNG) at
`camera_size` and `camera_fps` (default: the observation's size, once per tick), with /camera/camera_info to match,
sensor-data QoS; it accepts arm commands as
trajectory_msgs/JointTrajectory on the JointTrajectoryController topic and as std_msgs/Float64MultiArray on the
forward_position_controller topic, and offers ~/reset (std_srvs/Trigger) to start a new episode. Each episode's
goal is published latched on /sim/goal_image, /sim/goal_joint_states (the joint positions the goal image shows,
same stamp) and /sim/goal_pose. Joint positions are published and taken in the driver's convention, as a real
driver does (robot.to_driver / from_driver: the sim Panda reports Franka's joint 6, the description's + pi/2).
With rate_factor > 1 it runs faster than real time and publishes /clock (other nodes then use_sim_time).
"""
from __future__ import annotations

from jepa_mpc.sim.rendering import select_gl_backend

select_gl_backend()  # before anything imports mujoco: the simulator renders headless

import dataclasses  # noqa: E402
import math  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from geometry_msgs.msg import PoseStamped  # noqa: E402
from rclpy.node import Node  # noqa: E402
from rclpy.qos import (  # noqa: E402
    QoSDurabilityPolicy,
    QoSProfile,
    QoSReliabilityPolicy,
    qos_profile_sensor_data,
)
from rosgraph_msgs.msg import Clock  # noqa: E402
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, JointState  # noqa: E402
from std_msgs.msg import Float64MultiArray, Header  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402
from trajectory_msgs.msg import JointTrajectory  # noqa: E402

from jepa_mpc.models.preprocess import parse_frame_size  # noqa: E402
from jepa_mpc.robots.trajectory_follower import TrajectoryFollower  # noqa: E402
from jepa_mpc.ros_nodes.conversions import (  # noqa: E402
    COMPRESSED_FORMATS,
    MessageError,
    joint_state_msg,
    rgb_to_compressed_msg,
    rgb_to_image_msg,
    s_to_stamp,
    stamp_to_s,
    trajectory_to_array,
)
from jepa_mpc.ros_nodes.params import declare_config, param, spin_node_main, validating_callback  # noqa: E402
from jepa_mpc.ros_nodes.robot_param import (  # noqa: E402
    ROBOT_HELP,
    TIMEOUT_HELP,
    NodeStartupError,
    arm_joint_names,
    check_timeout,
    is_embedded_panda,
    node_robot,
)
from jepa_mpc.ros_nodes.ros_logging import bridge_python_logs  # noqa: E402

LATCHED = QoSProfile(depth=1, durability=QoSDurabilityPolicy.TRANSIENT_LOCAL,
                     reliability=QoSReliabilityPolicy.RELIABLE)
JOINT_STATES_QOS = QoSProfile(depth=10, reliability=QoSReliabilityPolicy.RELIABLE,
                              durability=QoSDurabilityPolicy.VOLATILE)
"""/joint_states as ros2_control's joint_state_broadcaster publishes it: reliable, so reliable subscribers
(robot_state_publisher, rviz) receive it; best-effort subscribers (the mpc and safety_filter nodes) match it too."""
TASKS = ("reach", "push")
CAMERA_ENCODINGS = ("rgb8", "bgr8", "mono8", "jpeg", "png")


@dataclasses.dataclass(frozen=True)
class SimBridgeConfig:
    """Parameters of the sim bridge node."""

    robot_description: str = param("panda", ROBOT_HELP, read_only=True)
    robot_description_timeout_s: float = param(30.0, TIMEOUT_HELP, read_only=True)
    task: str = param("reach", "'reach' or 'push' (push: the embedded Panda only; a model trained on PandaPush-v1 "
                      "also needs its camera: camera_pos [1.25, 0.0, 0.8], camera_lookat [0.5, 0.0, 0.05])",
                      read_only=True)
    image_size: int = param(64, "the simulator's observation size, pixels (the camera's too unless camera_size)",
                            read_only=True)
    camera_size: str = param("", "published frame size WxH, e.g. 640x480, rendered at that resolution with the "
                             "cell's vertical field of view; empty: image_size x image_size", read_only=True)
    camera_encoding: str = param("rgb8", "rgb8 | bgr8 | mono8 on /camera/image_raw, or jpeg | png on "
                                 "/camera/image_raw/compressed, as a camera driver with image_transport publishes",
                                 read_only=True)
    camera_fps: float = param(0.0, "camera frames per second, independent of the control rate; 0: one frame per "
                              "control tick", read_only=True)
    seed: int = param(0, "seed of the first episode; +1 per reset; setting it makes the next reset's episode that "
                      "seed's (jepa-mpc eval --through-ros runs the in-process eval's episodes so)")
    control_period_s: float = param(0.1, "simulated time per tick", read_only=True)
    rate_factor: float = param(1.0, "sim speed / real time; != 1 publishes /clock")
    reset_grace_s: float = param(0.3, "after ~/reset, commands are ignored for this long (simulated s): they were "
                                 "computed for the arm before it was teleported to the new episode's start")
    camera_pos: tuple = param((), "camera position, m; empty: the cell's default view (the Panda scene's: "
                              "[1.6, 0.9, 1.05])", read_only=True)
    camera_lookat: tuple = param((), "camera target, m; empty: the cell's default view (the Panda scene's: "
                                 "[0.35, 0.0, 0.25])", read_only=True)
    camera_frame_id: str = param("camera_color_optical_frame", "image frame id")
    joint_names: tuple = param((), "ROS (driver) names of the arm joints, in the description's order; empty: the "
                               "robot's")
    trajectory_topic: str = param("/joint_trajectory_controller/joint_trajectory", "JTC command topic", read_only=True)
    forward_topic: str = param("/forward_position_controller/commands", "forward position controller topic",
                               read_only=True)

    def __post_init__(self) -> None:
        check_timeout(self.robot_description_timeout_s)
        if self.task not in TASKS:
            raise ValueError(f"task must be 'reach' or 'push', got {self.task!r}")
        if not (self.rate_factor > 0 and math.isfinite(self.rate_factor)):
            raise ValueError(f"rate_factor must be > 0, got {self.rate_factor}")
        if not (math.isfinite(self.reset_grace_s) and self.reset_grace_s >= 0):
            raise ValueError(f"reset_grace_s must be >= 0, got {self.reset_grace_s}")
        if len(set(self.joint_names)) != len(self.joint_names):
            raise ValueError(f"joint_names must be distinct, got {self.joint_names}")
        self.camera_wh()  # a valid size
        if self.camera_encoding not in CAMERA_ENCODINGS:
            raise ValueError(f"camera_encoding must be one of {CAMERA_ENCODINGS}, got {self.camera_encoding!r}")
        if not (math.isfinite(self.camera_fps) and self.camera_fps >= 0):
            raise ValueError(f"camera_fps must be >= 0 (0: once per control tick), got {self.camera_fps}")
        for name in ("camera_pos", "camera_lookat"):
            value = getattr(self, name)
            if len(value) not in (0, 3) or not all(math.isfinite(float(v)) for v in value):
                raise ValueError(f"{name} needs 3 finite values (or none: the default view), got {list(value)}")

    def camera_wh(self) -> tuple[int, int]:
        """(width, height) of the published frames."""
        if not self.camera_size.strip():
            return (self.image_size, self.image_size)
        try:
            return parse_frame_size(self.camera_size)
        except ValueError as exc:
            raise ValueError(f"camera_size: {exc}") from None

    def camera(self, default):
        """CameraConfig: the given pose, each empty part from `default` (the cell's own view)."""
        from jepa_mpc.sim.panda_scene import CameraConfig

        return CameraConfig(pos=tuple(float(v) for v in self.camera_pos) or default.pos,
                            lookat=tuple(float(v) for v in self.camera_lookat) or default.lookat,
                            fovy_deg=default.fovy_deg)


class _Schedule:
    """Calls `action` every `period_s` seconds of monotonic time; after falling behind by more than a period it
    starts afresh instead of catching up in a burst."""

    def __init__(self, period_s: float, action) -> None:
        self.period_s, self.action, self.deadline = period_s, action, time.monotonic()

    def run_if_due(self) -> None:
        now = time.monotonic()
        if now < self.deadline:
            return
        self.action()
        self.deadline += self.period_s
        if self.deadline < now - self.period_s:
            self.deadline = time.monotonic()


class SimBridgeNode(Node):
    """Steps the simulated arm once per control period and speaks the ros2_control topics.

    The simulation lives in its own thread (which owns the MuJoCo model and its GL context, as EGL contexts are
    bound to the thread that made them); ROS callbacks only hand it commands and reset requests. The follower and
    the simulator work in the description's joint convention; messages carry the driver's.
    """

    START_TIMEOUT_S = 120.0

    def __init__(self, name: str = "sim_bridge", **kwargs) -> None:
        super().__init__(name, **kwargs)
        self._log_bridge = bridge_python_logs(self, ("jepa_mpc.sim",))  # the simulator's Python logs -> /rosout
        self._thread: threading.Thread | None = None
        try:
            self._start()
        except BaseException:
            self.destroy_node()  # a node that cannot start leaves nothing behind on the graph
            raise

    def _start(self) -> None:
        self.cfg: SimBridgeConfig = declare_config(self, SimBridgeConfig)
        self.robot = node_robot(self)
        self.panda_scene = is_embedded_panda(self.robot)
        if self.cfg.task != "reach" and not self.panda_scene:
            raise NodeStartupError(f"task {self.cfg.task!r} runs on the embedded Panda only; {self.robot.name} gets "
                                   "the reach task (ArmReach-v0): set task: reach")
        self.joint_names = arm_joint_names(self.cfg.joint_names, self.robot)
        self._seed = self.cfg.seed
        validate = validating_callback(self, SimBridgeConfig)

        def on_set(params):  # a new `seed` is the next reset's episode (set again: that episode again)
            result = validate(params)
            if result.successful:
                for p in params:
                    if p.name == "seed":
                        self._seed = int(p.value)
            return result

        self.add_on_set_parameters_callback(on_set)
        self._sim_time = 0.0
        self._lock = threading.Lock()  # guards the follower between callbacks and the sim thread
        self.follower: TrajectoryFollower | None = None
        self.rejected_commands = 0
        self.ignored_after_reset = 0
        self._reset_at = -math.inf
        self.ticks = 0
        self.pub_joints = self.create_publisher(JointState, "/joint_states", JOINT_STATES_QOS)
        if self.cfg.camera_encoding in COMPRESSED_FORMATS:
            self.pub_image = self.create_publisher(CompressedImage, "/camera/image_raw/compressed",
                                                   qos_profile_sensor_data)
        else:
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
        self.context.on_shutdown(self._stop.set)  # the simulation thread ends with the context
        self._reset_requested = threading.Event()
        self._reset_done = threading.Event()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="sim_bridge_physics", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout=self.START_TIMEOUT_S) or self._error is not None:
            self._stop.set()
            raise NodeStartupError(f"simulation of {self.robot.name} failed to start: "
                                   f"{self._error or f'not ready within {self.START_TIMEOUT_S:g} s'}")

    # --------------------------------------------------------------------------------------------- time
    def now_s(self) -> float:
        """Simulated seconds when publishing /clock, else the node clock."""
        if self.pub_clock is not None:
            return self._sim_time
        return self.get_clock().now().nanoseconds * 1e-9

    # --------------------------------------------------------------------------------------------- sim thread
    def _make_env(self):
        """The Panda scene for the embedded Panda (reach or push), ArmReach-v0 around any other arm."""
        from jepa_mpc.robots.arm_control import ArmControlConfig

        control = ArmControlConfig(control_period_s=self.cfg.control_period_s)
        if self.panda_scene:
            from jepa_mpc.sim.panda_env import PandaArmEnv
            from jepa_mpc.sim.panda_scene import CameraConfig

            return PandaArmEnv(task=self.cfg.task, image_size=self.cfg.image_size,
                               camera=self.cfg.camera(CameraConfig()), control=control)
        from jepa_mpc.sim.arm_cell import default_camera
        from jepa_mpc.sim.arm_env import ArmReachEnv

        camera = self.cfg.camera(default_camera(self.robot)) if self.cfg.camera_pos or self.cfg.camera_lookat \
            else None
        return ArmReachEnv(robot=self.robot, image_size=self.cfg.image_size, camera=camera, control=control)

    def _run(self) -> None:
        try:
            self.env = self._make_env()
            self._reset_episode()
        except BaseException as exc:  # reported to the constructor, which raises it
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        clocks = [_Schedule(self.cfg.control_period_s / self.cfg.rate_factor, self._tick)]
        if self.cfg.camera_fps:  # the camera on its own clock, in this thread (it owns the GL context)
            clocks.append(_Schedule(1.0 / self.cfg.camera_fps / self.cfg.rate_factor, self._publish_frame))
        try:
            while not self._stop.is_set():
                if self._reset_requested.is_set():
                    self._reset_requested.clear()
                    self._reset_episode(requested=True)
                    self._reset_done.set()
                for clock in clocks:
                    clock.run_if_due()
                self._stop.wait(max(0.0, min(clock.deadline for clock in clocks) - time.monotonic()))
        except Exception:
            # Ctrl-C shuts the context down from rclpy's signal handler, possibly mid-tick: the publish that then
            # fails ends the thread quietly; anything else while running is a bug and is raised
            if self.context.ok() and not self._stop.is_set():
                raise
        finally:
            self.env.close()

    def _joint_state(self, positions: np.ndarray, velocities: np.ndarray, stamp) -> JointState:
        """The arm joints (driver convention), then the fingers when the robot has them."""
        dof = self.robot.dof
        positions = np.asarray(positions, dtype=np.float64)
        q = self.robot.to_driver(positions[:dof])
        names: tuple[str, ...] = self.joint_names
        fingers = self.robot.finger_joint_names
        if fingers and len(positions) == dof + len(fingers):
            names, q = (*names, *fingers), np.r_[q, positions[dof:]]
        return joint_state_msg(names, q, np.asarray(velocities, dtype=np.float64)[: len(names)], stamp)

    def _reset_episode(self, requested: bool = False) -> None:
        """A new episode; `requested` (~/reset, not the first one) starts reset_grace_s, in which commands made for
        the arm before it was teleported are ignored."""
        obs, info = self.env.reset(seed=self._seed)
        self._seed += 1
        with self._lock:
            self.follower = TrajectoryFollower(self.env.joint_targets)
            if requested:
                self._reset_at = self.now_s()
        stamp = s_to_stamp(self.now_s())
        goal_q = np.asarray(info["goal_joint_pos"], dtype=np.float64)
        self.pub_goal_joints.publish(self._joint_state(goal_q, np.zeros_like(goal_q), stamp))
        width, height = self.cfg.camera_wh()
        goal_image = info["goal_image"] if (width, height) == info["goal_image"].shape[1::-1] else \
            self.env.unwrapped.render_goal(width, height)  # as the camera would see the goal
        self.pub_goal_image.publish(rgb_to_image_msg(goal_image, stamp, self.cfg.camera_frame_id))
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
            positions, times = trajectory_to_array(msg, self.joint_names)
            now = self.now_s()
            start = stamp_to_s(msg.header.stamp) or now
            with self._lock:
                if self._in_reset_grace(now):
                    return
                self.follower.set_trajectory(self.robot.from_driver(positions), times, start, now)
        except (MessageError, ValueError) as exc:
            self.rejected_commands += 1
            self.get_logger().warning(f"rejected trajectory: {exc}", throttle_duration_sec=1.0)

    def _in_reset_grace(self, now: float) -> bool:
        """A command arriving now was made for the arm before the last ~/reset teleported it: count it, ignore it
        (called with the lock held)."""
        if now - self._reset_at < self.cfg.reset_grace_s:
            self.ignored_after_reset += 1
            return True
        return False

    def _on_forward(self, msg: Float64MultiArray) -> None:
        target = np.asarray(msg.data, dtype=np.float64)
        if target.shape != (self.robot.dof,) or not np.all(np.isfinite(target)):
            self.rejected_commands += 1
            self.get_logger().warning(f"rejected forward command of {len(msg.data)} values (want {self.robot.dof} "
                                      "finite joint positions)", throttle_duration_sec=1.0)
            return
        with self._lock:
            if self._in_reset_grace(self.now_s()):
                return
            self.follower.hold(self.robot.from_driver(target))

    # --------------------------------------------------------------------------------------------- publish
    def _publish(self, obs: dict) -> None:
        stamp = s_to_stamp(self.now_s())
        self.pub_joints.publish(self._joint_state(obs["joint_pos"], obs["joint_vel"], stamp))
        if not self.cfg.camera_fps:  # one frame per control tick; else _run publishes them at camera_fps
            self._publish_frame(obs["image"])

    def _publish_frame(self, observed: np.ndarray | None = None) -> None:
        """Render (or reuse the observation, when it is the camera's size) and publish a frame and its CameraInfo,
        in camera_encoding, stamped now."""
        stamp = s_to_stamp(self.now_s())
        width, height = self.cfg.camera_wh()
        rgb = observed if observed is not None and observed.shape[1::-1] == (width, height) else \
            self.env.unwrapped.render_camera(width, height)
        encoding, frame_id = self.cfg.camera_encoding, self.cfg.camera_frame_id
        if encoding in COMPRESSED_FORMATS:
            self.pub_image.publish(rgb_to_compressed_msg(rgb, stamp, frame_id, encoding))
        else:
            self.pub_image.publish(rgb_to_image_msg(rgb, stamp, frame_id, encoding))
        self.pub_info.publish(self._camera_info(stamp, width, height))

    def _camera_info(self, stamp, width: int, height: int) -> CameraInfo:
        """Pinhole intrinsics of a width x height frame with the cell camera's vertical field of view."""
        f = 0.5 * height / math.tan(math.radians(self.env.camera.fovy_deg) / 2)
        cx, cy = (width - 1) / 2, (height - 1) / 2
        return CameraInfo(header=Header(stamp=stamp, frame_id=self.cfg.camera_frame_id), height=height, width=width,
                          distortion_model="plumb_bob", d=[0.0] * 5, k=[f, 0.0, cx, 0.0, f, cy, 0.0, 0.0, 1.0],
                          r=[1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0], p=[f, 0.0, cx, 0.0, 0.0, f, cy, 0.0, 0.0, 0.0, 1.0, 0.0])

    def destroy_node(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join(timeout=5.0)
        self._log_bridge.close()
        super().destroy_node()


def main(args=None) -> None:
    """`ros2 run jepa_mpc sim_bridge` entry point."""
    spin_node_main(SimBridgeNode, args)

if __name__ == "__main__":
    main()
