"""`safety_filter` node: between planner and arm, it checks every command with the arm's true kinematics.

As soon as a /planned_trajectory arrives it runs planner.safety.SafetyFilter on it with the measured joint state
(clamp or hold) and publishes the result to the controller topic (ros2_control JointTrajectoryController): no
timer between a plan and its command. The motion a command starts is checked from where the controller is when
it arrives: the node follows what it sent with the JTC's own interpolation (robots/trajectory_follower.py), so a
command sent before the previous one is finished is bounded and swept from that point, not from the previous
target. Between plans the controller goes on with the checked trajectory it has: the plan's first points, as many
as can start before the watchdog would hold for the plan's age (max_plan_age_s / control_period_s + 2); the rest
could never be executed, so they are neither checked nor sent.
Watchdog (each control period, and on every plan): if joint states or camera frames go stale, or the plan is
older than max_plan_age_s, it commands a hold where the controller is, within two control periods. Only a frame
the mpc node would accept (conversions.check_colour_image_msg; a compressed one must decode) keeps the camera
alive, and a stamp further ahead than the filter's max_future_stamp_s is invalid (rejected on arrival, never fresh
in the watchdog: planner/stamps.py).
~/estop latches a hold until ~/reset. Every tick's decision and its reasons go to /diagnostics.
It trusts neither the model nor the optimiser.

The arm is the `robot_description` parameter (ros_nodes/robot_param.py; empty: the /robot_description topic).
Joint states, plans and commands are in the driver's convention; the filter checks in the description's
(robot.from_driver on the way in, robot.to_driver on the way out).
"""
from __future__ import annotations

import dataclasses
import math
import threading

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CompressedImage, Image, JointState
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from jepa_mpc.planner.config import SafetyConfig
from jepa_mpc.planner.safety import SafetyFilter
from jepa_mpc.planner.stamps import StampStatus, stamp_age_status
from jepa_mpc.robots.arm_control import ArmControlConfig
from jepa_mpc.robots.trajectory_follower import TrajectoryFollower
from jepa_mpc.ros_nodes.conversions import (
    MessageError,
    check_colour_image_msg,
    checked_stamp_s,
    compressed_msg_to_rgb,
    diagnostics_msg,
    joint_state_to_arrays,
    s_to_stamp,
    trajectory_msg,
    trajectory_to_array,
)
from jepa_mpc.ros_nodes.guardrail_params import GuardrailParams
from jepa_mpc.ros_nodes.latency import StageWindow, tick_values
from jepa_mpc.ros_nodes.params import declare_config, param, spin_node_main
from jepa_mpc.ros_nodes.robot_param import (
    ROBOT_HELP,
    TIMEOUT_HELP,
    NodeStartupError,
    arm_joint_names,
    check_timeout,
    node_robot,
)
from jepa_mpc.ros_nodes.ros_logging import bridge_python_logs


@dataclasses.dataclass(frozen=True)
class SafetyFilterNodeConfig:
    """Parameters of the safety filter node (guardrails under `guardrails.`)."""

    robot_description: str = param("panda", ROBOT_HELP, read_only=True)
    robot_description_timeout_s: float = param(30.0, TIMEOUT_HELP, read_only=True)
    joint_names: tuple = param((), "ROS (driver) names of the arm joints, in the description's order; empty: the "
                               "robot's")
    control_period_s: float = param(0.1, "time the controller is given for each command point; the watchdog's "
                                    "period", read_only=True)
    max_step_rad: float = param(0.05, "largest joint change per period")
    max_joint_state_age_s: float = param(0.25, "older joint states: hold")
    max_image_age_s: float = param(0.25, "older camera frames: hold; 0 disables")
    max_plan_age_s: float = param(0.25, "older plans: hold")
    plan_topic: str = param("/planned_trajectory", "input", read_only=True)
    command_topic: str = param("/joint_trajectory_controller/joint_trajectory",
                               "output to the arm's controller", read_only=True)
    image_topic: str = param("/camera/image_raw", "watched for staleness",
                                                                                    read_only=True)
    image_transport: str = param("raw", "raw: sensor_msgs/Image on image_topic; compressed: sensor_msgs/"
                                 "CompressedImage on <image_topic>/compressed (as the mpc node's)", read_only=True)
    guardrails: GuardrailParams = dataclasses.field(default_factory=GuardrailParams)

    def __post_init__(self) -> None:
        check_timeout(self.robot_description_timeout_s)
        if len(set(self.joint_names)) != len(self.joint_names):
            raise ValueError(f"joint_names must be distinct, got {self.joint_names}")
        for name in ("control_period_s", "max_step_rad", "max_joint_state_age_s", "max_plan_age_s"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        if self.image_transport not in ("raw", "compressed"):
            raise ValueError(f"image_transport must be raw or compressed, got {self.image_transport!r}")
        if not (math.isfinite(self.max_image_age_s) and self.max_image_age_s >= 0):
            raise ValueError(f"max_image_age_s must be >= 0, got {self.max_image_age_s}")

    def safety_config(self, robot=None) -> SafetyConfig:
        """The filter's SafetyConfig on `robot` (guardrails: GuardrailParams.to_config(robot))."""
        arm = ArmControlConfig(control_period_s=self.control_period_s, max_joint_step_rad=self.max_step_rad)
        return SafetyConfig(guardrails=self.guardrails.to_config(robot), arm=arm,
                            max_obs_age_s=self.max_joint_state_age_s)


class SafetyFilterNode(Node):
    """Clamps or holds every command; the watchdog and e-stop live here."""

    def __init__(self, name: str = "safety_filter", **kwargs) -> None:
        super().__init__(name, **kwargs)
        try:
            self._start()
        except BaseException:
            self.destroy_node()  # a node that cannot start leaves nothing behind on the graph
            raise

    def _start(self) -> None:
        self.cfg: SafetyFilterNodeConfig = declare_config(self, SafetyFilterNodeConfig)
        self.robot = node_robot(self)
        self.joint_names = arm_joint_names(self.cfg.joint_names, self.robot)
        try:
            self.filter = SafetyFilter(self.cfg.safety_config(self.robot), self.robot)
        except ValueError as exc:  # e.g. joint limits with the wrong number of values for this arm
            raise NodeStartupError(f"guardrails do not fit {self.robot.name}: {exc}") from None
        self._lock = threading.Lock()
        self._q: np.ndarray | None = None
        self._q_stamp = -math.inf
        self._image_stamp = -math.inf
        self._plan: np.ndarray | None = None
        self._plan_stamp = -math.inf
        self._plan_received_s = -math.inf
        self._plan_pending = False  # a plan that has not been filtered yet
        # Where the controller is: the JTC's interpolation of what this node sent (None before the first command)
        self._controller: TrajectoryFollower | None = None
        self._controller_since_s = -math.inf  # when this node started modelling the controller (first command)
        self._last_step: np.ndarray | None = None  # the last command's first step, from where it started
        self.stage_window = StageWindow()
        # Points a plan can still be executing when it goes stale and the watchdog's next tick holds the arm
        self.points_sent = math.ceil(self.cfg.max_plan_age_s / self.cfg.control_period_s) + 2
        self.estopped = False
        self.last_decision = "waiting for joint states"
        self.counts = {"sent": 0, "hold": 0, "rejected_msgs": 0}
        self.pub_cmd = self.create_publisher(JointTrajectory, self.cfg.command_topic, 10)
        self.pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.create_subscription(JointState, "/joint_states", self._on_joint_state, qos_profile_sensor_data)
        if self.cfg.image_transport == "compressed":
            self.create_subscription(CompressedImage, self.cfg.image_topic.rstrip("/") + "/compressed",
                                     self._on_image, qos_profile_sensor_data)
        else:
            self.create_subscription(Image, self.cfg.image_topic, self._on_image, qos_profile_sensor_data)
        self.create_subscription(JointTrajectory, self.cfg.plan_topic, self._on_plan, 10)
        self.create_service(Trigger, "~/estop", self._on_estop)
        self.create_service(Trigger, "~/reset", self._on_reset)
        self.timer = self.create_timer(self.cfg.control_period_s, self._tick)
        # last, once nothing here can fail: the filter's Python log lines (planner.safety) go to this node's ROS
        # logger (/rosout) until destroy_node
        self._log_bridge = bridge_python_logs(self)

    def destroy_node(self) -> None:
        if getattr(self, "_log_bridge", None) is not None:  # absent when the node failed to start
            self._log_bridge.close()
            self._log_bridge = None
        super().destroy_node()

    def now_s(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    # ------------------------------------------------------------------------------------------ inputs
    def _reject(self, what: str, exc: Exception) -> None:
        self.counts["rejected_msgs"] += 1
        self.get_logger().warning(f"rejected {what}: {exc}", throttle_duration_sec=1.0)
        self._publish_diag(DiagnosticStatus.WARN, f"rejected {what}: {exc}")

    def _stamp(self, msg) -> float:
        """The message's stamp in seconds; MessageError when it is further ahead of the clock than allowed."""
        return checked_stamp_s(msg.header.stamp, self.now_s(), self.filter.cfg.max_future_stamp_s)

    def _on_joint_state(self, msg: JointState) -> None:
        try:
            q, _ = joint_state_to_arrays(msg, self.joint_names)
            stamp = self._stamp(msg)
        except MessageError as exc:
            self._reject("joint state", exc)
            return
        with self._lock:
            self._q, self._q_stamp = self.robot.from_driver(q), stamp

    def _on_image(self, msg: Image | CompressedImage) -> None:
        try:  # the watchdog asks "is the camera alive?": only a frame the mpc node could use says yes
            if isinstance(msg, CompressedImage):
                compressed_msg_to_rgb(msg)
            else:
                check_colour_image_msg(msg)
            stamp = self._stamp(msg)
        except MessageError as exc:
            self._reject("camera frame", exc)
            return
        with self._lock:
            self._image_stamp = stamp

    def _on_plan(self, msg: JointTrajectory) -> None:
        received_s = self.now_s()
        try:
            positions, _ = trajectory_to_array(msg, self.joint_names)
            stamp = self._stamp(msg)
        except MessageError as exc:
            self._reject("plan", exc)
            return
        with self._lock:
            self._plan, self._plan_stamp = self.robot.from_driver(positions), stamp
            self._plan_received_s, self._plan_pending = received_s, True
        self._tick()  # command it now: a plan waiting for a timer is latency for nothing

    def _on_estop(self, request, response):
        self.estopped = True
        self._tick()  # hold now, not at the next period
        response.success, response.message = True, "e-stop latched; call ~/reset to release"
        return response

    def _on_reset(self, request, response):
        """Release the e-stop. The old plan is never resumed, and the next command starts from the measured arm:
        while stopped, the arm may have been moved by hand, by another controller or by a simulator reset."""
        self.estopped = False
        with self._lock:
            self._plan = None  # never resume an old plan after a stop
            self._controller, self._last_step = None, None  # the next command starts from the measured arm
        response.success, response.message = True, "e-stop released"
        return response

    # ------------------------------------------------------------------------------------------ tick
    def watchdog(self, now: float) -> str | None:
        """Why the arm must hold regardless of the plan, or None."""
        if self.estopped:
            return "estop"
        ahead = self.filter.cfg.max_future_stamp_s
        checks = (("joint_states", self._q_stamp, self.cfg.max_joint_state_age_s),
                  ("camera", self._image_stamp, self.cfg.max_image_age_s),
                  ("plan", self._plan_stamp if self._plan is not None else -math.inf, self.cfg.max_plan_age_s))
        for what, stamp, max_age in checks:
            if what == "camera" and max_age == 0:
                continue  # camera watchdog disabled
            status = stamp_age_status(stamp, now, max_age, ahead)
            if status is StampStatus.FUTURE:
                return f"{what}_future_stamp"
            if status is not StampStatus.FRESH:
                return f"{what}_stale"  # stale, or never received (-inf)
        return None

    def _tick(self) -> None:
        """On a plan's arrival: filter it and command the result at once. On the timer: hold if the watchdog says
        so, else nothing (the controller goes on with the checked trajectory it was sent)."""
        now = self.now_s()
        with self._lock:
            q, q_stamp, plan, pending = self._q, self._q_stamp, self._plan, self._plan_pending
            plan_stamp, received_s = self._plan_stamp, self._plan_received_s
            why = self.watchdog(now)
        if q is None and self._controller is None:
            self.last_decision = "waiting for joint states"
            self._publish_diag(DiagnosticStatus.STALE, self.last_decision)
            return
        if why is not None:
            self._hold(why, q, q_stamp, now)
            return
        if not pending:
            return
        with self._lock:
            self._plan_pending = False
        # From where the controller is now, at the velocity of its last command (the acceleration bound's reference);
        # before any command the filter starts from the measured state itself
        start = self._controller_at(now, q, q_stamp)
        ref = start if self._controller is not None else None
        qd_ref = None if self._last_step is None else self._last_step / self.cfg.control_period_s
        command, report = self.filter.filter(plan[: self.points_sent], q, q_stamp, now, q_reference=ref,
                                             qd_reference=qd_ref)
        if command.joint_targets.shape[0] == 0:
            self._hold(report.describe(), q, q_stamp, now)
            return
        sent_s = self._send(command.joint_targets, now, start)
        if command.hold:
            self.counts["hold"] += 1
        self.last_decision = report.describe()
        stages = {"transport": 1e3 * (received_s - plan_stamp), "filter": 1e3 * (sent_s - received_s)}
        self.stage_window.add(stages)
        level = DiagnosticStatus.OK if report.ok else DiagnosticStatus.WARN
        self._publish_diag(level, self.last_decision, {"plan_stamp_s": plan_stamp, "sent_s": sent_s,
                                                       **tick_values(stages), **self.stage_window.summary()})

    def _controller_at(self, now: float, q: np.ndarray | None, q_stamp: float) -> np.ndarray:
        """Where the controller is now: on the checked motion this node sent; before any command, or when the arm
        measured at q_stamp was farther than max_tracking_error_rad from where that motion had it then (something
        else moved it: a simulator reset, another controller, a collision), the measured position clipped into the
        limits. A hold then keeps the arm where it is instead of pulling it back to where this node last sent it.
        A reading from the first control period of a new model is not judged: it may predate the model's command."""
        if self._controller is not None:
            judged = q is not None and q_stamp >= self._controller_since_s + self.cfg.control_period_s
            if not judged or np.all(np.abs(self._controller.target_at(q_stamp) - q)
                                    <= self.filter.cfg.max_tracking_error_rad):
                return self._controller.target_at(now)
            self._controller, self._last_step = None, None  # its motion and velocity are not the arm's any more
        return np.clip(q, self.filter.lower, self.filter.upper)

    def _hold(self, why: str, q: np.ndarray | None, q_stamp: float, now: float) -> None:
        """Command where the controller is now (_controller_at) and stay there."""
        target = self._controller_at(now, q, q_stamp)
        self._send(target[None], now, target)
        self.counts["hold"] += 1
        self.last_decision = f"HOLD ({why})"
        self._publish_diag(DiagnosticStatus.ERROR if why == "estop" else DiagnosticStatus.WARN, self.last_decision)

    def _send(self, targets: np.ndarray, now: float, start: np.ndarray) -> float:
        """Command model-convention targets [T, J] (published in the driver's convention), point i reached at
        (i + 1) control periods, the motion starting at `start` (where the controller is now). Returns the clock
        just before publishing (no subscriber can have it earlier)."""
        msg = trajectory_msg(self.joint_names, self.robot.to_driver(targets), self.cfg.control_period_s,
                             s_to_stamp(0.0))
        sent_s = self.now_s()
        self.pub_cmd.publish(msg)
        if self._controller is None:
            self._controller, self._controller_since_s = TrajectoryFollower(start), now
        period = self.cfg.control_period_s
        self._controller.set_trajectory(targets, period * np.arange(1, len(targets) + 1), now, now)
        self._last_step = np.asarray(targets[0], dtype=np.float64) - start
        self.counts["sent"] += 1
        return sent_s

    def _publish_diag(self, level: int, message: str, extra: dict | None = None) -> None:
        values = {"estop": self.estopped, **self.counts, **(extra or {})}
        self.pub_diag.publish(diagnostics_msg(self.get_name(), level, message, values, s_to_stamp(self.now_s())))


def main(args=None) -> None:
    """`ros2 run jepa_mpc jepa_mpc_safety_filter` entry point."""
    spin_node_main(SafetyFilterNode, args)

if __name__ == "__main__":
    main()
