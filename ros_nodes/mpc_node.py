"""`mpc` lifecycle node: JEPA encoder + latent predictor + CEM/gradient MPC, planning off the executor thread.

configure: load the checkpoint (device auto|cpu|cuda), build the planners, warm up. activate: start the planning
thread. It keeps the latest camera frame, joint state and commanded target (read back from the controller topic,
so the plan integrates from what the arm was really told), and as soon as a new frame arrives (`plan_trigger:
frame`; or each control period, `timer`) encodes, plans and publishes /planned_trajectory plus /diagnostics (plan
status, cost breakdown, safety reasons, and the latency of each stage from the frame's stamp: ros_nodes/latency.py).
Frames that arrive while a plan is being made are not queued: the next plan takes the newest. Goals: an image on
/goal_image, a position on /goal_pose (planned through known forward kinematics), or ~/capture_goal, which takes
the current frame. A checkpoint whose encoder also reads joint positions (proprioception) gets them from
/joint_states for the observation, and for the goal from /goal_joint_states stamped like the goal image (or the
joint state at capture time); until both halves of the goal are there, it holds. Parameters map onto
planner.config; changes are validated and applied between solves.

The arm is the `robot_description` parameter (ros_nodes/robot_param.py; empty: the /robot_description topic): its
kinematics, guardrails and safety filter are the planner's. Joint values on ROS topics are in the driver's
convention and converted with robot.from_driver / to_driver; a proprioceptive checkpoint reads its joints in the
description's (model) convention, as it was trained. A world model is only used for the arm it was trained on:
with `checkpoint: none`, or with the shipped checkpoint (the embedded Panda's) on another arm, or with a checkpoint
whose action size does not fit the arm, the node plans pose goals through the arm's known kinematics
(NullWorldModel) and refuses image goals with a diagnostic saying why.
"""
from __future__ import annotations

import dataclasses
import math
import threading
import time

import numpy as np
import rclpy
import torch
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from geometry_msgs.msg import PoseStamped
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CompressedImage, Image, JointState
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from jepa_mpc.models.preprocess import ImagePreprocessing
from jepa_mpc.planner.config import SafetyConfig
from jepa_mpc.planner.kinematic_model import NullWorldModel
from jepa_mpc.robots.arm_control import integrate_targets
from jepa_mpc.ros_nodes.conversions import (
    MessageError,
    checked_stamp_s,
    diagnostics_msg,
    frame_msg_to_rgb,
    joint_state_to_arrays,
    s_to_stamp,
    stamp_to_s,
    trajectory_msg,
    trajectory_to_array,
)
from jepa_mpc.ros_nodes.guardrail_params import GuardrailParams
from jepa_mpc.ros_nodes.latency import StageWindow, tick_values
from jepa_mpc.ros_nodes.params import declare_config, ignore_further_interrupts, param, validating_callback
from jepa_mpc.ros_nodes.robot_param import (
    ROBOT_HELP,
    TIMEOUT_HELP,
    NodeStartupError,
    arm_joint_names,
    check_timeout,
    driver_offsets,
    is_embedded_panda,
    node_robot,
)
from jepa_mpc.ros_nodes.ros_logging import bridge_python_logs
from jepa_mpc.tasks import REACH

IMAGE_PLANNING, POSE_PLANNING = REACH.planning_for("image"), REACH.planning_for("pose")
"""The defaults below start from the Reach task's tuned settings (jepa_mpc/tasks/reach.py)."""
NO_CHECKPOINT = "none"
"""`checkpoint: none`: no world model; pose goals through the arm's known kinematics only."""
PLAN_TRIGGERS = ("frame", "timer")
PROPRIO_SOURCES = ("commanded", "measured")
IMAGE_TRANSPORTS = ("raw", "compressed")
"""When the planning thread plans: on each new camera frame, or on a timer (MpcNodeConfig.plan_trigger)."""


@dataclasses.dataclass(frozen=True)
class MpcNodeConfig:
    """Parameters of the MPC node; `to_planner_configs()` turns them into planner.config objects."""

    autostart: bool = param(True, "configure and activate at start-up (bringup, demo, ros2 run); false: wait in "
                            "unconfigured for a lifecycle manager's transitions on ~/change_state", read_only=True)
    robot_description: str = param("panda", ROBOT_HELP, read_only=True)
    robot_description_timeout_s: float = param(30.0, TIMEOUT_HELP, read_only=True)
    checkpoint: str = param("", "world-model checkpoint; empty: the shipped one (the embedded Panda's); none: pose "
                            "goals through known kinematics only", read_only=True)
    device: str = param("auto", "auto | cpu | cuda", read_only=True)
    torch_threads: int = param(1,
        "CPU threads for torch (1 avoids contention with the other nodes on small machines)", read_only=True)
    cuda_graph: bool = param(True, "on cuda, replay each CEM solve as one captured CUDA graph (ignored on cpu)",
                             read_only=True)
    parallel_kinematics: bool = param(True, "on cpu, the arm's kinematics of each CEM batch in a second thread while "
                                      "the world model rolls it out (a plan uses two cores)", read_only=True)
    optimizer: str = param("cem", "cem | gradient | hybrid")
    horizon: int = param(IMAGE_PLANNING.horizon, "planned steps H")
    num_samples: int = param(IMAGE_PLANNING.samples, "CEM samples K")
    iterations: int = param(IMAGE_PLANNING.iterations, "CEM iterations")
    num_elites: int = param(32, "CEM elites")
    gradient_steps: int = param(20, "Adam steps (gradient, hybrid)")
    plan_budget_s: float = param(0.0, "anytime deadline per plan; 0: none")
    goal_energy_weight: float = param(1.0, "weight of ||z_H - z_goal||")
    pose_weight: float = param(1.0, "weight of the EE-to-goal-pose distance")
    action_magnitude_weight: float = param(POSE_PLANNING.action_weight, "weight of |a|^2 (pose goals)")
    image_action_magnitude_weight: float = param(
        IMAGE_PLANNING.action_weight, "weight of |a|^2 (image goals: the latent energy is flat near the goal, so "
        "prefer stillness there)")
    action_rate_weight: float = param(0.01, "weight of |a_t - a_{t-1}|^2")
    goal_norm: str = param("l2", "l1 | l2 latent distance")
    image_goal_mode: str = param(IMAGE_PLANNING.goal_mode, "latent energy on the last predicted step (terminal), "
                                 "the horizon mean (trajectory), both, or the closest step (closest)")
    control_period_s: float = param(0.1, "period of one planned step; with plan_trigger timer also the planning "
                                    "period", read_only=True)
    plan_trigger: str = param("frame", "frame: plan as soon as a new camera frame arrives (without a camera, a "
                              "kinematic planner: a joint state), the newest one, never a queue; timer: plan every "
                              "control_period_s on the latest frame")
    proprio_source: str = param("commanded", "a proprioceptive checkpoint reads the arm joints the plan starts from "
                                "(commanded: the last command, when the arm is within max_tracking_error_rad of it) "
                                "or as last measured (measured); the frame and the joint reading are a period or two "
                                "old when the plan goes out, the last command is where the plan starts")
    max_step_rad: float = param(0.05, "joint change per action unit",
                                                                       read_only=True)
    max_obs_age_s: float = param(0.25, "older observations: no plan")
    joint_names: tuple = param((), "ROS (driver) names of the arm joints, in the description's order; empty: the "
                               "robot's")
    proprio_joint_names: tuple = param((), "joints a proprioceptive checkpoint reads, in its input order; empty: "
                                       "the arm joints, then the robot's finger joints", read_only=True)
    image_topic: str = param("/camera/image_raw", "camera", read_only=True)
    image_transport: str = param("raw", "raw: sensor_msgs/Image on image_topic (rgb8, bgr8, rgba8, bgra8; mono8 is "
                                 "refused: the models take colour); compressed: sensor_msgs/CompressedImage (JPEG "
                                 "or PNG) on <image_topic>/compressed, as image_transport publishes it",
                                 read_only=True)
    image_crop: str = param("", "camera frame -> model input: center (largest centred square), none (squash the "
                            "whole frame) or x0,y0,x1,y1; empty: what the checkpoint was trained with (a different "
                            "value is refused)", read_only=True)
    image_interpolation: str = param("", "area | bilinear | nearest resize to the model's size; empty: the "
                                     "checkpoint's (a different value is refused)", read_only=True)
    command_topic: str = param("/joint_trajectory_controller/joint_trajectory",
                               "what the arm is commanded (read back)", read_only=True)
    guardrails: GuardrailParams = dataclasses.field(default_factory=GuardrailParams)

    def __post_init__(self) -> None:
        self.to_planner_configs()  # every value is validated by the planner's own configs
        if self.image_transport not in IMAGE_TRANSPORTS:
            raise ValueError(f"image_transport must be one of {IMAGE_TRANSPORTS}, got {self.image_transport!r}")
        self.camera_preprocessing(ImagePreprocessing())  # crop and interpolation are valid
        if self.plan_trigger not in PLAN_TRIGGERS:
            raise ValueError(f"plan_trigger must be one of {PLAN_TRIGGERS}, got {self.plan_trigger!r}")
        if self.proprio_source not in PROPRIO_SOURCES:
            raise ValueError(f"proprio_source must be one of {PROPRIO_SOURCES}, got {self.proprio_source!r}")
        if self.torch_threads < 1:
            raise ValueError(f"torch_threads must be >= 1, got {self.torch_threads}")
        check_timeout(self.robot_description_timeout_s)
        for name in ("joint_names", "proprio_joint_names"):
            names = getattr(self, name)
            if len(set(names)) != len(names):
                raise ValueError(f"{name} must be distinct names, got {names}")

    def camera_preprocessing(self, recorded: ImagePreprocessing) -> ImagePreprocessing:
        """The checkpoint's preprocessing (`recorded`) with this node's image_crop / image_interpolation where set."""
        return dataclasses.replace(recorded, **{name: value for name, value in
                                               (("crop", self.image_crop.strip()),
                                                ("interpolation", self.image_interpolation.strip())) if value})

    def to_planner_configs(self, robot=None):
        """(MPCConfig, image-goal CostConfig, pose-goal CostConfig, GuardrailConfig) on `robot` (the guardrails'
        empty values are the robot's: GuardrailParams.to_config)."""
        from jepa_mpc.planner.config import CEMConfig, CostConfig, GradientConfig, MPCConfig
        from jepa_mpc.robots.arm_control import ArmControlConfig

        if not (math.isfinite(self.plan_budget_s) and self.plan_budget_s >= 0):
            raise ValueError(f"plan_budget_s must be >= 0, got {self.plan_budget_s}")
        mpc = MPCConfig(
            optimizer=self.optimizer, horizon=self.horizon, device=self.device, max_obs_age_s=self.max_obs_age_s,
            cuda_graph=self.cuda_graph, parallel_kinematics=self.parallel_kinematics,
            plan_budget_s=self.plan_budget_s or None,
            cem=CEMConfig(num_samples=self.num_samples, iterations=self.iterations, num_elites=self.num_elites),
            gradient=GradientConfig(steps=self.gradient_steps),
            arm=ArmControlConfig(control_period_s=self.control_period_s, max_joint_step_rad=self.max_step_rad))
        common = dict(action_rate_weight=self.action_rate_weight, goal_norm=self.goal_norm)
        image_costs = CostConfig(terms=("goal_energy", "action_magnitude", "action_rate"),
                                 goal_energy_weight=self.goal_energy_weight, goal_mode=self.image_goal_mode,
                                 action_magnitude_weight=self.image_action_magnitude_weight, **common)
        pose_costs = CostConfig(terms=("pose_fk", "action_magnitude", "action_rate"), pose_fk_weight=self.pose_weight,
                                action_magnitude_weight=self.action_magnitude_weight, **common)
        return mpc, image_costs, pose_costs, self.guardrails.to_config(robot)


@dataclasses.dataclass(frozen=True)
class ImageGoal:
    """A goal image, its stamp, and the joint positions it shows (needed by a proprioceptive checkpoint)."""

    rgb: np.ndarray
    stamp_s: float
    joints: np.ndarray | None = None


@dataclasses.dataclass(frozen=True)
class Frame:
    """A decoded camera frame: RGB, its stamp, when it reached the node (node clock, s) and how long decoding took."""

    rgb: np.ndarray
    stamp_s: float
    received_s: float
    decode_ms: float


NO_FRAME = np.zeros((1, 1, 3), np.uint8)
"""What a kinematic (pose-only) planner encodes when no camera is there: its latent ignores the image."""


class MpcNode(LifecycleNode):
    """Encodes frames, plans towards the goal, publishes plans; never blocks the executor."""

    def __init__(self, name: str = "mpc", **kwargs) -> None:
        super().__init__(name, **kwargs)
        self._stop = threading.Event()
        self.context.on_shutdown(self._stop.set)  # the planning thread ends with the context
        self.cfg: MpcNodeConfig = declare_config(self, MpcNodeConfig)
        self._pending_cfg: MpcNodeConfig | None = None
        self.add_on_set_parameters_callback(validating_callback(self, MpcNodeConfig, on_valid=self._queue_cfg))
        self._lock = threading.Lock()
        self._wake = threading.Event()  # a new frame (or goal) for the planning thread (plan_trigger: frame)
        self.stage_window = StageWindow()
        self._frame: Frame | None = None
        self._joints: tuple[np.ndarray, float] | None = None  # arm joints, model convention
        self._proprio: np.ndarray | None = None  # positions of proprio_names (model convention), when available
        self._commanded: np.ndarray | None = None  # last commanded arm targets, model convention
        # ("image", ImageGoal) or ("pose", xyz); an image goal's joints may arrive after its image (or never)
        self._goal: tuple[str, object] | None = None
        self._goal_joints: tuple[np.ndarray, float] | None = None  # latest /goal_joint_states (positions, stamp)
        self.proprio_dim = 0  # set by configure: > 0 when the checkpoint's encoder reads joint positions
        self._goal_version = 0
        self._thread: threading.Thread | None = None
        self.planners: dict | None = None
        self.robot = None  # set by configure, from robot_description
        self.joint_names: tuple[str, ...] = ()  # driver names of the arm joints (set by configure)
        self.proprio_names: tuple[str, ...] = ()
        self._proprio_offsets = np.zeros(0)
        self.image_goal_refusal = ""  # set by configure: why image goals cannot be planned ('' = they can)
        self.image_size: int | None = None  # set by configure, from the checkpoint
        self.preprocessing: ImagePreprocessing | None = None  # set by configure: camera frame -> model input
        self._camera_size: tuple[int, int] | None = None  # (width, height) of the stream's first frame
        self.last_tick = None
        self.plans_published = 0
        self.pub_plan = None
        self.pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        if self.cfg.image_transport == "compressed":
            self.create_subscription(CompressedImage, self.cfg.image_topic.rstrip("/") + "/compressed",
                                     self._on_image, qos_profile_sensor_data)
        else:
            self.create_subscription(Image, self.cfg.image_topic, self._on_image, qos_profile_sensor_data)
        self.create_subscription(JointState, "/joint_states", self._on_joint_state, qos_profile_sensor_data)
        self.create_subscription(JointTrajectory, self.cfg.command_topic, self._on_command, 10)
        self.create_subscription(Image, "/goal_image", self._on_goal_image, 10)
        self.create_subscription(JointState, "/goal_joint_states", self._on_goal_joint_state, 10)
        self.create_subscription(PoseStamped, "/goal_pose", self._on_goal_pose, 10)
        self.create_service(Trigger, "~/capture_goal", self._on_capture_goal)
        self.create_service(Trigger, "~/clear_goal", self._on_clear_goal)
        # last, once nothing here can fail: the planner's and models' Python log lines go to this node's ROS logger
        # (/rosout) until destroy_node
        self._log_bridge = bridge_python_logs(self, ("jepa_mpc.planner", "jepa_mpc.models"))

    def now_s(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    # ------------------------------------------------------------------------------------------ lifecycle
    def on_configure(self, state) -> TransitionCallbackReturn:
        try:
            if self.robot is None:  # read-only: resolved once (a failed wait for the topic is retried)
                robot = node_robot(self)
                joint_names = arm_joint_names(self.cfg.joint_names, robot)
                proprio_names = tuple(self.cfg.proprio_joint_names) or (*joint_names, *robot.finger_joint_names)
                with self._lock:
                    self.robot, self.joint_names, self.proprio_names = robot, joint_names, proprio_names
                    self._proprio_offsets = driver_offsets(proprio_names, joint_names, robot)
            self.planners = self._build_planners(self.cfg)
        except Exception as exc:  # noqa: BLE001 - reported, and the transition fails cleanly
            self.get_logger().error(f"configure failed: {exc}")
            self._diag(DiagnosticStatus.ERROR, f"configure failed: {exc}", {})
            return TransitionCallbackReturn.FAILURE
        self.pub_plan = self.create_lifecycle_publisher(JointTrajectory, "/planned_trajectory", 10)
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state) -> TransitionCallbackReturn:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run_planner, name="mpc_planner", daemon=True)
        self._thread.start()
        return super().on_activate(state)

    def on_deactivate(self, state) -> TransitionCallbackReturn:
        self._stop_thread()
        return super().on_deactivate(state)

    def on_cleanup(self, state) -> TransitionCallbackReturn:
        self._stop_thread()
        self.planners = None  # frees the model (and GPU memory)
        if self.pub_plan is not None:
            self.destroy_lifecycle_publisher(self.pub_plan)
            self.pub_plan = None
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state) -> TransitionCallbackReturn:
        self._stop_thread()
        return TransitionCallbackReturn.SUCCESS

    def _run_planner(self) -> None:
        """The planning thread: _plan_loop until stopped. Ctrl-C shuts the context down from the signal handler,
        possibly mid-tick; the publish that then fails ends the thread quietly instead of with a traceback."""
        try:
            self._plan_loop()
        except Exception:
            if self.context.ok() and not self._stop.is_set():
                raise

    def _stop_thread(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None

    def destroy_node(self) -> None:
        """Stop planning and the log bridge before the node's handles go: a planning thread that outlives the node
        publishes on destroyed handles, and one still inside torch at interpreter exit aborts the process (134)."""
        self._stop_thread()
        if getattr(self, "_log_bridge", None) is not None:  # absent when __init__ failed before opening it
            self._log_bridge.close()
        super().destroy_node()

    def _world_model(self, cfg: MpcNodeConfig):
        """(world model, proprio_dim, why image goals are refused or '', what it is, the preprocessing its frames
        had in training) for this arm; without a world model any frame will do (the default preprocessing)."""
        from jepa_mpc.models.shipped import resolve_checkpoint
        from jepa_mpc.models.world_model import WorldModel

        robot = self.robot
        kinematic = NullWorldModel(robot.dof + (1 if robot.finger_joint_names else 0))
        what = f"no world model: pose goals through {robot.name}'s kinematics"
        any_frame = ImagePreprocessing()
        if cfg.checkpoint.strip().lower() == NO_CHECKPOINT:
            return kinematic, 0, "checkpoint is 'none' (no world model)", what, any_frame
        if not cfg.checkpoint and not is_embedded_panda(robot):
            return kinematic, 0, (f"the shipped checkpoint was trained on the embedded Panda, not on {robot.name}; "
                                  "set checkpoint to a world model of this arm"), what, any_frame
        path = resolve_checkpoint(cfg.checkpoint)
        world_model = WorldModel.from_checkpoint(path, device=cfg.device).eval()
        if int(world_model.action_dim) not in (robot.dof, robot.dof + 1):
            return kinematic, 0, (f"checkpoint {path} takes {world_model.action_dim} actions and {robot.name} has "
                                  f"{robot.dof} joints: it was trained on another arm"), what, any_frame
        proprio_dim = int(world_model.cfg.encoder.proprio_dim)
        if proprio_dim and world_model.cfg.encoder.proprio_key != "joint_pos":
            raise ValueError(f"{path}'s encoder reads {world_model.cfg.encoder.proprio_key}; this node feeds it "
                             "joint positions only")
        if proprio_dim and proprio_dim != len(self.proprio_names):
            raise ValueError(f"{path} reads {proprio_dim} joint positions ({world_model.cfg.encoder.proprio_key}) but "
                             f"proprio_joint_names names {len(self.proprio_names)}: {list(self.proprio_names)}")
        recorded = ImagePreprocessing.of_checkpoint(path, int(world_model.cfg.encoder.image_size))
        return world_model, proprio_dim, "", str(path), recorded

    def _build_planners(self, cfg: MpcNodeConfig) -> dict:
        """Load the world model and build one MPC per goal kind it supports (pose always; image with a world
        model of this arm)."""

        from jepa_mpc.planner.mpc import RecedingHorizonMPC

        torch.set_num_threads(cfg.torch_threads)
        world_model, proprio_dim, refusal, what, recorded = self._world_model(cfg)
        preprocessing = cfg.camera_preprocessing(recorded)
        differences = recorded.differences(preprocessing)
        if differences and not refusal:
            raise NodeStartupError(
                f"{what} was trained on frames preprocessed as {recorded.describe()}; this node would feed it "
                f"{preprocessing.describe()} ({'; '.join(differences)}): leave image_crop / image_interpolation "
                "empty to use the checkpoint's, or train on frames preprocessed this way")
        mpc_cfg, image_costs, pose_costs, guardrails = cfg.to_planner_configs(self.robot)
        try:
            guardrails.for_robot(self.robot)
        except ValueError as exc:
            raise NodeStartupError(f"guardrails do not fit {self.robot.name}: {exc}") from None
        planners = {"pose": RecedingHorizonMPC.build(world_model, mpc_cfg, pose_costs, guardrails, robot=self.robot)}
        if not refusal:
            planners["image"] = RecedingHorizonMPC.build(world_model, mpc_cfg, image_costs, guardrails,
                                                         robot=self.robot)
        encoder = getattr(getattr(world_model, "cfg", None), "encoder", None)
        self.image_size = int(encoder.image_size) if encoder is not None else None
        self.preprocessing, self._camera_size = preprocessing, None
        self.proprio_dim = proprio_dim
        self.image_goal_refusal = refusal
        self.get_logger().info(f"{self.robot.name}: {what} on {planners['pose'].device}; optimizer {cfg.optimizer}, "
                               f"K={cfg.num_samples} H={cfg.horizon} iterations={cfg.iterations}")
        if refusal:
            self.get_logger().warning(f"pose goals only: {refusal}")
        return planners

    def _queue_cfg(self, cfg: MpcNodeConfig) -> None:
        with self._lock:
            self._pending_cfg = cfg  # applied by the planning thread between solves

    # ------------------------------------------------------------------------------------------ inputs
    def _model_input(self, msg, stream: bool) -> np.ndarray:
        """A camera frame or goal image (raw or compressed) -> the model's input (configure's preprocessing);
        MessageError if it cannot be: malformed, greyscale, a crop box it does not fit, or (stream) a frame whose
        size differs from the stream's first."""
        rgb = frame_msg_to_rgb(msg)
        size = (rgb.shape[1], rgb.shape[0])
        if stream:
            if self._camera_size is None:
                self._camera_size = size
            elif size != self._camera_size:
                raise MessageError(f"the camera's frames changed size mid-stream, from {self._camera_size[0]}x"
                                   f"{self._camera_size[1]} to {size[0]}x{size[1]}; reconfigure the node (cleanup, "
                                   "configure) to take the new size")
        preprocessing = self.preprocessing or ImagePreprocessing()
        try:
            return preprocessing.apply(rgb)
        except ValueError as exc:
            raise MessageError(str(exc)) from None

    def _plan_proprio(self, proprio, q_measured, commanded, planner):
        """The joint reading the encoder gets (None without a proprioceptive checkpoint): with proprio_source
        commanded, the arm joints are the last command's, where the plan's actions start (so the latent and the
        actions agree on where the arm is, as they do in the in-process eval), unless the arm is farther than
        max_tracking_error_rad from it or a custom proprio_joint_names order puts other joints first."""
        if not self.proprio_dim or proprio is None:
            return None
        dof = len(q_measured)
        if (self.cfg.proprio_source != "commanded" or tuple(self.proprio_names[:dof]) != tuple(self.joint_names)
                or planner.arm.tracked_command(q_measured, commanded) is None):
            return proprio
        return np.concatenate([np.asarray(commanded, dtype=proprio.dtype), proprio[dof:]])

    def _reject(self, what: str, exc: Exception) -> None:
        self.get_logger().warning(f"rejected {what}: {exc}", throttle_duration_sec=1.0)
        self._diag(DiagnosticStatus.WARN, f"rejected {what}: {exc}", {})

    def _refuse_image_goal(self) -> str:
        """Say (log + /diagnostics) why an image goal cannot be planned on this arm; returns the message."""
        message = f"image goal refused: {self.image_goal_refusal}; send a pose goal on /goal_pose"
        self.get_logger().warning(message, throttle_duration_sec=1.0)
        self._diag(DiagnosticStatus.ERROR, message, {"robot": self.robot.name if self.robot else "",
                                                     "goal": "image"})
        return message

    def _stamp(self, msg) -> float:
        """The message's stamp in seconds; MessageError when it is further ahead of the clock than the safety
        filter's max_future_stamp_s (such an observation would never go stale)."""
        planners = self.planners
        ahead = (planners["pose"].safety.cfg if planners else SafetyConfig).max_future_stamp_s
        return checked_stamp_s(msg.header.stamp, self.now_s(), ahead)

    def _on_image(self, msg: Image | CompressedImage) -> None:
        received_s, t = self.now_s(), time.perf_counter()
        try:
            rgb = self._model_input(msg, stream=True)
            stamp = self._stamp(msg)
        except MessageError as exc:
            self._reject("camera frame", exc)
            return
        frame = Frame(rgb, stamp, received_s, 1e3 * (time.perf_counter() - t))
        with self._lock:
            self._frame = frame
        self._wake.set()

    def _on_joint_state(self, msg: JointState) -> None:
        robot = self.robot
        if robot is None:  # not configured yet: which joints to read is not known
            return
        try:
            q, _ = joint_state_to_arrays(msg, self.joint_names)
            stamp = self._stamp(msg)
        except MessageError as exc:
            self._reject("joint state", exc)
            return
        try:
            proprio, _ = joint_state_to_arrays(msg, self.proprio_names)
            proprio = proprio - self._proprio_offsets
        except MessageError as exc:
            proprio = None
            if self.proprio_dim:  # only a proprioceptive checkpoint needs the extra joints
                self._reject("joint state for proprioception", exc)
        with self._lock:
            self._joints = (robot.from_driver(q), stamp)
            self._proprio = proprio
            no_camera = self._frame is None
        if no_camera:  # a kinematic planner without a camera plans on joint states
            self._wake.set()

    def _on_command(self, msg: JointTrajectory) -> None:
        robot = self.robot
        if robot is None:
            return
        try:
            positions, _ = trajectory_to_array(msg, self.joint_names)
        except MessageError:
            return  # the safety filter reports bad commands; here we only track good ones
        with self._lock:
            self._commanded = robot.from_driver(positions[0])

    def _set_goal(self, kind: str, value) -> None:
        with self._lock:
            self._goal = (kind, value)
            self._goal_version += 1
        self._wake.set()
        self.get_logger().info(f"new {kind} goal")

    def _on_goal_image(self, msg: Image) -> None:
        if self.image_goal_refusal:
            self._refuse_image_goal()
            return
        try:
            rgb = self._model_input(msg, stream=False)
        except MessageError as exc:
            self._reject("goal image", exc)
            return
        stamp = stamp_to_s(msg.header.stamp)
        with self._lock:
            joints = self._goal_joints
        # the goal's joint positions belong to this image only if they carry its stamp (published together)
        self._set_goal("image", ImageGoal(rgb, stamp, joints[0] if joints and joints[1] == stamp else None))

    def _on_goal_joint_state(self, msg: JointState) -> None:
        if self.robot is None:
            return
        try:
            q, _ = joint_state_to_arrays(msg, self.proprio_names)
        except MessageError as exc:
            self._reject("goal joint state", exc)
            return
        q = q - self._proprio_offsets  # the checkpoint reads the description's convention
        stamp = stamp_to_s(msg.header.stamp)
        with self._lock:
            self._goal_joints = (q, stamp)
            kind, goal = self._goal if self._goal is not None else (None, None)
        if kind == "image" and goal.joints is None and goal.stamp_s == stamp:  # the image came first
            self._set_goal("image", dataclasses.replace(goal, joints=q))

    def _on_goal_pose(self, msg: PoseStamped) -> None:
        p = msg.pose.position
        xyz = np.array([p.x, p.y, p.z])
        if not np.all(np.isfinite(xyz)):
            self._reject("goal pose", ValueError("non-finite position"))
            return
        self._set_goal("pose", xyz)

    def _on_capture_goal(self, request, response):
        if self.image_goal_refusal:
            response.success, response.message = False, self._refuse_image_goal()
            return response
        with self._lock:
            frame, proprio = self._frame, self._proprio
        if frame is None:
            response.success, response.message = False, "no camera frame yet"
            return response
        if self.proprio_dim and proprio is None:
            response.success, response.message = False, f"no joint state with {list(self.proprio_names)} yet"
            return response
        self._set_goal("image", ImageGoal(frame.rgb.copy(), frame.stamp_s, None if proprio is None else proprio.copy()))
        response.success, response.message = True, "current frame is the goal"
        return response

    def _on_clear_goal(self, request, response):
        with self._lock:
            self._goal = None
            self._goal_version += 1
        response.success, response.message = True, "goal cleared; holding"
        return response

    # ------------------------------------------------------------------------------------------ planning
    def _plan_loop(self) -> None:

        from jepa_mpc.planner.mpc import Observation

        # OpenMP's thread count is per calling thread: set it here too, not only where configure ran, or this
        # thread's solves spin extra OMP workers that fight the simulator and executor threads for the cores.
        torch.set_num_threads(self.cfg.torch_threads)

        period = self.cfg.control_period_s
        next_tick = time.monotonic()
        seen_goal_version = -1
        planned = None  # (frame stamp, goal version) of the last plan: with plan_trigger frame, each is planned once
        while not self._stop.is_set():
            on_frames = self.cfg.plan_trigger == "frame"
            if on_frames:  # woken by a new frame or goal; at least once a period, to report a hold
                self._wake.wait(timeout=period)
                self._wake.clear()
                if self._stop.is_set():
                    break
            with self._lock:
                frame, joints, commanded, goal = self._frame, self._joints, self._commanded, self._goal
                proprio = self._proprio
                goal_version, pending = self._goal_version, self._pending_cfg
                self._pending_cfg = None
            if pending is not None:
                self._apply_cfg(pending)
            if goal is not None and goal[0] not in self.planners:  # an image goal set before configure
                self._refuse_image_goal()
                with self._lock:
                    if self._goal is goal:
                        self._goal = None
                goal = None
            if frame is None and joints is not None and "image" not in self.planners:
                frame = Frame(NO_FRAME, joints[1], joints[1], 0.0)  # a kinematic planner needs no camera
            missing = self._missing_input(goal, frame, joints, proprio)
            if missing:
                if goal is not None:
                    self._diag(DiagnosticStatus.WARN, f"holding: {missing}", {})
            elif on_frames and planned == (frame.stamp_s, goal_version):
                pass  # woken by the period, nothing new: the last plan stands
            else:
                planned = (frame.stamp_s, goal_version)
                kind, value = goal
                planner = self.planners[kind]
                if goal_version != seen_goal_version:
                    planner.reset()
                    if kind == "image":
                        planner.set_goal_image(value.rgb, value.joints if self.proprio_dim else None)
                    else:
                        planner.set_goal(ee_goal=value)
                    seen_goal_version = goal_version
                obs = Observation(image=frame.rgb, q=joints[0], stamp_s=min(frame.stamp_s, joints[1]),
                                  proprio=self._plan_proprio(proprio, joints[0], commanded, planner),
                                  q_target=commanded)
                start_s = self.now_s()
                try:
                    tick = planner.step(obs, now_s=self.now_s())
                except Exception as exc:  # noqa: BLE001 - a planner bug must not kill the thread; no plan = hold
                    self.get_logger().error(f"planning failed: {exc!r}", throttle_duration_sec=1.0)
                    self._diag(DiagnosticStatus.ERROR, f"planning failed: {exc!r}", {})
                    planner.reset()
                else:
                    self.last_tick = tick
                    self._publish(tick, commanded if commanded is not None else joints[0], frame, start_s)
            if on_frames:
                continue
            next_tick += period
            self._stop.wait(max(0.0, next_tick - time.monotonic()))
            if time.monotonic() - next_tick > period:
                next_tick = time.monotonic()  # missed a period: don't burst

    def _missing_input(self, goal, frame, joints, proprio) -> str:
        """Why no plan can be made now ('' when everything the goal and the model need is there)."""
        if goal is None:
            return "no goal"
        if frame is None or joints is None:
            return "no camera frame or joint state yet"
        if self.proprio_dim and proprio is None:
            return f"no joint state with {list(self.proprio_names)}"
        if self.proprio_dim and goal[0] == "image" and goal[1].joints is None:
            return "the goal image's joint positions have not arrived on /goal_joint_states (same stamp)"
        return ""

    def _apply_cfg(self, cfg: MpcNodeConfig) -> None:
        try:
            self.planners = self._build_planners(cfg)
            self.cfg = cfg
            with self._lock:
                self._goal_version += 1  # re-set the goal on the new planners
        except Exception as exc:  # noqa: BLE001 - keep planning with the old configuration
            self.get_logger().error(f"parameter change not applied: {exc}")

    def _publish(self, tick, q0: np.ndarray, frame: Frame, start_s: float) -> None:
        """Publish the plan (when there is one) and the tick's diagnostics, with the latency of each stage from the
        frame's stamp to the plan's (ros_nodes/latency.py; the stages add up to plan stamp - frame stamp)."""
        plan, command = tick.plan, tick.command
        published_s = math.nan
        if plan.ok and command.joint_targets.shape[0] > 0 and self.pub_plan is not None:
            safety = self.planners["pose"].safety  # same arm model and action semantics for every planner
            positions = integrate_targets(q0, plan.actions.cpu().numpy().astype(np.float64), safety.mjcf_lower,
                                          safety.mjcf_upper, safety.cfg.arm)
            positions[: command.joint_targets.shape[0]] = command.joint_targets  # the filtered head
            published_s = self.now_s()
            self.pub_plan.publish(trajectory_msg(self.joint_names, self.robot.to_driver(positions),
                                                 self.cfg.control_period_s, s_to_stamp(published_s)))
            self.plans_published += 1
        encode_ms = 1e3 * (tick.timings_s.get("observe", 0) + tick.timings_s.get("encode", 0))
        plan_ms = 1e3 * tick.timings_s.get("plan", 0)
        stages = {"receive": 1e3 * (frame.received_s - frame.stamp_s), "decode": frame.decode_ms,
                  "wait": 1e3 * (start_s - frame.received_s) - frame.decode_ms, "encode": encode_ms, "plan": plan_ms,
                  "publish": 1e3 * (published_s - start_s) - encode_ms - plan_ms}
        if not math.isfinite(published_s):  # no plan went out: the stages up to the solve only
            del stages["publish"]
        self.stage_window.add(stages)
        values = {"status": plan.status.value, "plan_ms": round(plan_ms, 2), "encode_ms": round(encode_ms, 2),
                  "total_ms": round(tick.timings_s.get("total", 0) * 1e3, 2), "iterations": plan.iterations,
                  "cost": plan.cost, "safety": tick.report.describe(), "frame_stamp_s": frame.stamp_s,
                  "plan_stamp_s": published_s, **tick_values(stages), **self.stage_window.summary(),
                  **{f"cost.{k}": round(float(v), 5) for k, v in plan.cost_terms.items()}}
        level = DiagnosticStatus.OK if plan.ok else DiagnosticStatus.WARN
        self._diag(level, plan.status.value, values)

    def _diag(self, level: int, message: str, values: dict) -> None:
        self.pub_diag.publish(diagnostics_msg(self.get_name(), level, message, values, s_to_stamp(self.now_s())))


def main(args=None) -> None:
    """`ros2 run jepa_mpc jepa_mpc_mpc`: configures and activates itself (autostart, the default; else it waits in
    unconfigured for a lifecycle manager), then spins. Exits with status 1 when it cannot start (bad parameters, a
    robot description that does not load); the log line says why."""
    from rclpy.executors import SingleThreadedExecutor

    rclpy.init(args=args)
    try:
        node = MpcNode()
    except ValueError as exc:  # a parameter value the config rejects: one line, no traceback
        rclpy.logging.get_logger("mpc").fatal(f"cannot start: {exc}")
        rclpy.try_shutdown()
        raise SystemExit(1) from None
    except (KeyboardInterrupt, rclpy.executors.ExternalShutdownException):
        rclpy.try_shutdown()
        return
    # One thread is enough: planning has its own, and every callback here is short. A MultiThreadedExecutor costs
    # more CPU for the same callbacks (7 % against 2 % of a core for one 10 Hz topic here), taken from the planner.
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        if node.cfg.autostart:
            if node.trigger_configure() != TransitionCallbackReturn.SUCCESS:  # stopped or failed while configuring
                if not node.context.ok():
                    return
                node.get_logger().fatal("cannot start: configure failed (see above)")
                raise SystemExit(1)
            node.trigger_activate()
        executor.spin()
    except (KeyboardInterrupt, rclpy.executors.ExternalShutdownException):
        pass
    finally:
        ignore_further_interrupts()
        node._stop_thread()
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()
