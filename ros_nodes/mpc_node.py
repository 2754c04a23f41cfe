"""`mpc` lifecycle node: JEPA encoder + latent predictor + CEM/gradient MPC, planning off the executor thread.

configure: load the checkpoint (device auto|cpu|cuda), build the planners, warm up. activate: start the planning
thread. It keeps the latest camera frame, joint state and commanded target (read back from the controller topic,
so the plan integrates from what the arm was really told), and each control period encodes, plans and publishes
/planned_trajectory plus /diagnostics (plan latency, status, cost breakdown, safety reasons). Goals: an image on
/goal_image, a position on /goal_pose (planned through known forward kinematics), or ~/capture_goal, which takes
the current frame. A checkpoint whose encoder also reads joint positions (proprioception) gets them from
/joint_states for the observation, and for the goal from /goal_joint_states stamped like the goal image (or the
joint state at capture time); until both halves of the goal are there, it holds. Parameters map onto
planner.config; changes are validated and applied between solves.
"""
from __future__ import annotations

import dataclasses
import math
import threading
import time

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from geometry_msgs.msg import PoseStamped
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image, JointState
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from jepa_mpc.models.shipped import SHIPPED_IMAGE_GOAL_PLANNING as TUNED
from jepa_mpc.ros_nodes.conversions import (
    MessageError,
    diagnostics_msg,
    image_msg_to_rgb,
    joint_state_to_arrays,
    s_to_stamp,
    stamp_to_s,
    trajectory_msg,
    trajectory_to_array,
)
from jepa_mpc.ros_nodes.guardrail_params import GuardrailParams
from jepa_mpc.ros_nodes.params import declare_config, param, validating_callback
from jepa_mpc.ros_nodes.sim_bridge import PANDA_FINGER_JOINTS, PANDA_ROS_JOINTS
from jepa_mpc.sim.arm_control import integrate_targets


@dataclasses.dataclass(frozen=True)
class MpcNodeConfig:
    """Parameters of the MPC node; `to_planner_configs()` turns them into planner.config objects."""

    checkpoint: str = param("", "world-model checkpoint; empty: the shipped one",
                                                                 read_only=True)
    device: str = param("auto", "auto | cpu | cuda", read_only=True)
    torch_threads: int = param(1,
        "CPU threads for torch (1 avoids contention with the other nodes on small machines)", read_only=True)
    cuda_graph: bool = param(True, "on cuda, replay each CEM solve as one captured CUDA graph (ignored on cpu)",
                             read_only=True)
    optimizer: str = param("cem", "cem | gradient | hybrid")
    horizon: int = param(TUNED.horizon, "planned steps H")
    num_samples: int = param(512, "CEM samples K")
    iterations: int = param(3, "CEM iterations")
    num_elites: int = param(32, "CEM elites")
    gradient_steps: int = param(20, "Adam steps (gradient, hybrid)")
    plan_budget_s: float = param(0.0, "anytime deadline per plan; 0: none")
    goal_energy_weight: float = param(1.0, "weight of ||z_H - z_goal||")
    pose_weight: float = param(1.0, "weight of the EE-to-goal-pose distance")
    action_magnitude_weight: float = param(0.01, "weight of |a|^2 (pose goals)")
    image_action_magnitude_weight: float = param(
        TUNED.action_weight, "weight of |a|^2 (image goals: the latent energy is flat near the goal, so prefer "
        "stillness there)")
    action_rate_weight: float = param(0.01, "weight of |a_t - a_{t-1}|^2")
    goal_norm: str = param("l2", "l1 | l2 latent distance")
    image_goal_mode: str = param(TUNED.goal_mode, "latent energy on the last predicted step (terminal), the horizon "
                                 "mean (trajectory), both, or the closest step (closest)")
    control_period_s: float = param(0.1, "planning period", read_only=True)
    max_step_rad: float = param(0.05, "joint change per action unit",
                                                                       read_only=True)
    max_obs_age_s: float = param(0.25, "older observations: no plan")
    joint_names: tuple = param(PANDA_ROS_JOINTS, "ROS names of the 7 arm joints")
    proprio_joint_names: tuple = param((*PANDA_ROS_JOINTS, *PANDA_FINGER_JOINTS),
                                       "joints a proprioceptive checkpoint reads, in its input order", read_only=True)
    image_topic: str = param("/camera/image_raw", "camera", read_only=True)
    command_topic: str = param("/joint_trajectory_controller/joint_trajectory",
                               "what the arm is commanded (read back)", read_only=True)
    guardrails: GuardrailParams = dataclasses.field(default_factory=GuardrailParams)

    def __post_init__(self) -> None:
        self.to_planner_configs()  # every value is validated by the planner's own configs
        if self.torch_threads < 1:
            raise ValueError(f"torch_threads must be >= 1, got {self.torch_threads}")
        if len(self.joint_names) != 7:
            raise ValueError(f"joint_names must name 7 joints, got {self.joint_names}")
        if not self.proprio_joint_names or len(set(self.proprio_joint_names)) != len(self.proprio_joint_names):
            raise ValueError(f"proprio_joint_names must be distinct names, got {self.proprio_joint_names}")

    def to_planner_configs(self):
        """(MPCConfig, image-goal CostConfig, pose-goal CostConfig, GuardrailConfig)."""
        from jepa_mpc.planner.config import CEMConfig, CostConfig, GradientConfig, MPCConfig
        from jepa_mpc.sim.arm_control import ArmControlConfig

        if not (math.isfinite(self.plan_budget_s) and self.plan_budget_s >= 0):
            raise ValueError(f"plan_budget_s must be >= 0, got {self.plan_budget_s}")
        mpc = MPCConfig(
            optimizer=self.optimizer, horizon=self.horizon, device=self.device, max_obs_age_s=self.max_obs_age_s,
            cuda_graph=self.cuda_graph,
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
        return mpc, image_costs, pose_costs, self.guardrails.to_config()


@dataclasses.dataclass(frozen=True)
class ImageGoal:
    """A goal image, its stamp, and the joint positions it shows (needed by a proprioceptive checkpoint)."""

    rgb: np.ndarray
    stamp_s: float
    joints: np.ndarray | None = None


class MpcNode(LifecycleNode):
    """Encodes frames, plans towards the goal, publishes plans; never blocks the executor."""

    def __init__(self, name: str = "mpc", **kwargs) -> None:
        super().__init__(name, **kwargs)
        self.cfg: MpcNodeConfig = declare_config(self, MpcNodeConfig)
        self._pending_cfg: MpcNodeConfig | None = None
        self.add_on_set_parameters_callback(validating_callback(self, MpcNodeConfig, on_valid=self._queue_cfg))
        self._lock = threading.Lock()
        self._frame: tuple[np.ndarray, float] | None = None
        self._joints: tuple[np.ndarray, float] | None = None
        self._proprio: np.ndarray | None = None  # positions of cfg.proprio_joint_names, when /joint_states has them
        self._commanded: np.ndarray | None = None
        # ("image", ImageGoal) or ("pose", xyz); an image goal's joints may arrive after its image (or never)
        self._goal: tuple[str, object] | None = None
        self._goal_joints: tuple[np.ndarray, float] | None = None  # latest /goal_joint_states (positions, stamp)
        self.proprio_dim = 0  # set by configure: > 0 when the checkpoint's encoder reads joint positions
        self._goal_version = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.planners: dict | None = None
        self.image_size: int | None = None  # set by configure, from the checkpoint
        self.last_tick = None
        self.plans_published = 0
        self.pub_plan = None
        self.pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.create_subscription(Image, self.cfg.image_topic, self._on_image, qos_profile_sensor_data)
        self.create_subscription(JointState, "/joint_states", self._on_joint_state, qos_profile_sensor_data)
        self.create_subscription(JointTrajectory, self.cfg.command_topic, self._on_command, 10)
        self.create_subscription(Image, "/goal_image", self._on_goal_image, 10)
        self.create_subscription(JointState, "/goal_joint_states", self._on_goal_joint_state, 10)
        self.create_subscription(PoseStamped, "/goal_pose", self._on_goal_pose, 10)
        self.create_service(Trigger, "~/capture_goal", self._on_capture_goal)
        self.create_service(Trigger, "~/clear_goal", self._on_clear_goal)

    def now_s(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    # ------------------------------------------------------------------------------------------ lifecycle
    def on_configure(self, state) -> TransitionCallbackReturn:
        try:
            self.planners = self._build_planners(self.cfg)
        except Exception as exc:  # noqa: BLE001 - reported, and the transition fails cleanly
            self.get_logger().error(f"configure failed: {exc}")
            return TransitionCallbackReturn.FAILURE
        self.pub_plan = self.create_lifecycle_publisher(JointTrajectory, "/planned_trajectory", 10)
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state) -> TransitionCallbackReturn:
        self._stop.clear()
        self._thread = threading.Thread(target=self._plan_loop, name="mpc_planner", daemon=True)
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

    def _stop_thread(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None

    def _build_planners(self, cfg: MpcNodeConfig) -> dict:
        """Load the world model and build one MPC per goal kind; one warm-up plan to pay start-up costs now."""
        import torch

        from jepa_mpc.models.shipped import resolve_checkpoint
        from jepa_mpc.models.world_model import WorldModel
        from jepa_mpc.planner.mpc import RecedingHorizonMPC
        from jepa_mpc.sim.panda_scene import load_model

        torch.set_num_threads(cfg.torch_threads)
        path = resolve_checkpoint(cfg.checkpoint)
        world_model = WorldModel.from_checkpoint(path, device=cfg.device).eval()
        proprio_dim = int(world_model.cfg.encoder.proprio_dim)
        if proprio_dim and world_model.cfg.encoder.proprio_key != "joint_pos":
            raise ValueError(f"{path}'s encoder reads {world_model.cfg.encoder.proprio_key}; this node feeds it "
                             "joint positions only")
        if proprio_dim and proprio_dim != len(cfg.proprio_joint_names):
            raise ValueError(f"{path} reads {proprio_dim} joint positions ({world_model.cfg.encoder.proprio_key}) but "
                             f"proprio_joint_names names {len(cfg.proprio_joint_names)}: {cfg.proprio_joint_names}")
        mpc_cfg, image_costs, pose_costs, guardrails = cfg.to_planner_configs()
        model = load_model()
        planners = {
            "image": RecedingHorizonMPC.build(world_model, mpc_cfg, image_costs, guardrails, model=model),
            "pose": RecedingHorizonMPC.build(world_model, mpc_cfg, pose_costs, guardrails, model=model),
        }
        self.image_size = int(world_model.cfg.encoder.image_size)
        self.proprio_dim = proprio_dim
        self.get_logger().info(f"loaded {path} on {planners['image'].device}; optimizer {cfg.optimizer}, "
                               f"K={cfg.num_samples} H={cfg.horizon} iterations={cfg.iterations}")
        return planners

    def _queue_cfg(self, cfg: MpcNodeConfig) -> None:
        with self._lock:
            self._pending_cfg = cfg  # applied by the planning thread between solves

    # ------------------------------------------------------------------------------------------ inputs
    def _expected_hw(self) -> tuple[int, int] | None:
        """Image size the loaded model takes (None before configure: any size is kept until then)."""
        return None if self.image_size is None else (self.image_size, self.image_size)

    def _reject(self, what: str, exc: Exception) -> None:
        self.get_logger().warning(f"rejected {what}: {exc}", throttle_duration_sec=1.0)
        self._diag(DiagnosticStatus.WARN, f"rejected {what}: {exc}", {})

    def _on_image(self, msg: Image) -> None:
        try:
            rgb = image_msg_to_rgb(msg, self._expected_hw())
        except MessageError as exc:
            self._reject("camera frame", exc)
            return
        with self._lock:
            self._frame = (rgb, stamp_to_s(msg.header.stamp))

    def _on_joint_state(self, msg: JointState) -> None:
        try:
            q, _ = joint_state_to_arrays(msg, self.cfg.joint_names)
        except MessageError as exc:
            self._reject("joint state", exc)
            return
        try:
            proprio, _ = joint_state_to_arrays(msg, self.cfg.proprio_joint_names)
        except MessageError as exc:
            proprio = None
            if self.proprio_dim:  # only a proprioceptive checkpoint needs the extra joints
                self._reject("joint state for proprioception", exc)
        with self._lock:
            self._joints = (q, stamp_to_s(msg.header.stamp))
            self._proprio = proprio

    def _on_command(self, msg: JointTrajectory) -> None:
        try:
            positions, _ = trajectory_to_array(msg, self.cfg.joint_names)
        except MessageError:
            return  # the safety filter reports bad commands; here we only track good ones
        with self._lock:
            self._commanded = positions[0]

    def _set_goal(self, kind: str, value) -> None:
        with self._lock:
            self._goal = (kind, value)
            self._goal_version += 1
        self.get_logger().info(f"new {kind} goal")

    def _on_goal_image(self, msg: Image) -> None:
        try:
            rgb = image_msg_to_rgb(msg, self._expected_hw())
        except MessageError as exc:
            self._reject("goal image", exc)
            return
        stamp = stamp_to_s(msg.header.stamp)
        with self._lock:
            joints = self._goal_joints
        # the goal's joint positions belong to this image only if they carry its stamp (published together)
        self._set_goal("image", ImageGoal(rgb, stamp, joints[0] if joints and joints[1] == stamp else None))

    def _on_goal_joint_state(self, msg: JointState) -> None:
        try:
            q, _ = joint_state_to_arrays(msg, self.cfg.proprio_joint_names)
        except MessageError as exc:
            self._reject("goal joint state", exc)
            return
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
        with self._lock:
            frame, proprio = self._frame, self._proprio
        if frame is None:
            response.success, response.message = False, "no camera frame yet"
            return response
        if self.proprio_dim and proprio is None:
            response.success, response.message = False, f"no joint state with {self.cfg.proprio_joint_names} yet"
            return response
        self._set_goal("image", ImageGoal(frame[0].copy(), frame[1], None if proprio is None else proprio.copy()))
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
        import torch

        from jepa_mpc.planner.mpc import Observation

        # OpenMP's thread count is per calling thread: set it here too, not only where configure ran, or this
        # thread's solves spin extra OMP workers that fight the simulator and executor threads for the cores.
        torch.set_num_threads(self.cfg.torch_threads)

        period = self.cfg.control_period_s
        next_tick = time.monotonic()
        seen_goal_version = -1
        while not self._stop.is_set():
            with self._lock:
                frame, joints, commanded, goal = self._frame, self._joints, self._commanded, self._goal
                proprio = self._proprio
                goal_version, pending = self._goal_version, self._pending_cfg
                self._pending_cfg = None
            if pending is not None:
                self._apply_cfg(pending)
            missing = self._missing_input(goal, frame, joints, proprio)
            if missing:
                if goal is not None:
                    self._diag(DiagnosticStatus.WARN, f"holding: {missing}", {})
            else:
                kind, value = goal
                planner = self.planners[kind]
                if goal_version != seen_goal_version:
                    planner.reset()
                    if kind == "image":
                        planner.set_goal_image(value.rgb, value.joints if self.proprio_dim else None)
                    else:
                        planner.set_goal(ee_goal=value)
                    seen_goal_version = goal_version
                obs = Observation(image=frame[0], q=joints[0], stamp_s=min(frame[1], joints[1]),
                                  proprio=proprio if self.proprio_dim else None, q_target=commanded)
                try:
                    tick = planner.step(obs, now_s=self.now_s())
                except Exception as exc:  # noqa: BLE001 - a planner bug must not kill the thread; no plan = hold
                    self.get_logger().error(f"planning failed: {exc!r}", throttle_duration_sec=1.0)
                    self._diag(DiagnosticStatus.ERROR, f"planning failed: {exc!r}", {})
                    planner.reset()
                else:
                    self.last_tick = tick
                    self._publish(tick, commanded if commanded is not None else joints[0], frame[1])
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
            return f"no joint state with {self.cfg.proprio_joint_names}"
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

    def _publish(self, tick, q0: np.ndarray, frame_stamp_s: float) -> None:
        plan, command = tick.plan, tick.command
        if plan.ok and command.joint_targets.shape[0] > 0 and self.pub_plan is not None:
            safety = self.planners["image"].safety  # same arm model and action semantics for both planners
            positions = integrate_targets(q0, plan.actions.cpu().numpy().astype(np.float64), safety.mjcf_lower,
                                          safety.mjcf_upper, safety.cfg.arm)
            positions[: command.joint_targets.shape[0]] = command.joint_targets  # the filtered head
            self.pub_plan.publish(trajectory_msg(self.cfg.joint_names, positions, self.cfg.control_period_s,
                                                 s_to_stamp(self.now_s())))
            self.plans_published += 1
        values = {"status": plan.status.value, "plan_ms": round(tick.timings_s.get("plan", 0) * 1e3, 2),
                  "encode_ms": round(tick.timings_s.get("encode", 0) * 1e3, 2),
                  "total_ms": round(tick.timings_s.get("total", 0) * 1e3, 2), "iterations": plan.iterations,
                  "cost": plan.cost, "safety": tick.report.describe(), "frame_stamp_s": frame_stamp_s,
                  **{f"cost.{k}": round(float(v), 5) for k, v in plan.cost_terms.items()}}
        level = DiagnosticStatus.OK if plan.ok else DiagnosticStatus.WARN
        self._diag(level, plan.status.value, values)

    def _diag(self, level: int, message: str, values: dict) -> None:
        self.pub_diag.publish(diagnostics_msg(self.get_name(), level, message, values, s_to_stamp(self.now_s())))


def main(args=None) -> None:
    """`ros2 run jepa_mpc jepa_mpc_mpc`: configures and activates itself, then spins."""
    from rclpy.executors import MultiThreadedExecutor

    rclpy.init(args=args)
    node = MpcNode()
    executor = MultiThreadedExecutor()
    executor.add_node(node)
    try:
        node.trigger_configure()
        node.trigger_activate()
        executor.spin()
    except (KeyboardInterrupt, rclpy.executors.ExternalShutdownException):
        pass
    finally:
        node._stop_thread()
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()
