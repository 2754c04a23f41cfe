"""`jepa-mpc eval --through-ros`: evaluation episodes run through the deployed graph, as processes.

sim_bridge, mpc and safety_filter are started as `ros2 launch` would start them (a process per node, the sim
graph's parameter file, overrides for the arm, the camera and the planner) on a private ROS domain. For episode i of
seed S this process sets sim_bridge's `seed` to the in-process eval's episode seed and calls its ~/reset (the arm
e-stopped meanwhile, so no command made for the old pose moves the new one), so the simulator starts the very
episode `jepa-mpc eval` would run; then it relays the simulator's goal (image with the joint positions it shows, or
pose) to the mpc node and watches `max_steps` control ticks (one /joint_states message per tick). Every command goes
through the safety filter, every frame through the camera topic as published (raw or compressed).

Judging is not done here: each tick's joint positions go to a `judge` (apps/evaluate.py's MirrorJudge: the same
env, put in the measured configuration), which says the distance to the goal, success and whether any guardrail is
breached, with the in-process eval's own checks; it also confirms that the graph's episode has the goal the
in-process episode has. What differs from the in-process eval is then only the graph: transport, decoding,
the frame's age, planning on the newest frame while the arm moves on.
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
import random
import signal
import sys
import threading
import time
from typing import Protocol

import numpy as np

from jepa_mpc.ros_nodes.conversions import COMPRESSED_FORMATS

RESET_TRIES = 3
RELEASE_AFTER_S = 0.2
"""After a reset, the e-stop is released this late: within sim_bridge's reset_grace_s, after 2 joint states."""
START_TOLERANCE_RAD = 1e-3
"""The arm's first reading of an episode must be this close to the in-process episode's start (else reset again)."""


class EpisodeJudge(Protocol):
    """Says how an episode goes from the joint positions the graph's arm reports (model convention)."""

    def reset(self, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Start the episode of `seed`; returns its start and goal joint positions (to check the graph runs the same
        episode)."""

    def step(self, q: np.ndarray) -> tuple[float, bool, bool]:
        """(distance to the goal, success, guardrail violated) with the arm at q."""


@dataclasses.dataclass(frozen=True)
class GraphEvalSettings:
    """What the graph runs: the arm, the camera, the model and the planner (the mpc node's parameters)."""

    robot: str = "panda"
    checkpoint: str = ""
    goal: str = "image"
    camera_size: str = ""
    camera_encoding: str = "rgb8"
    camera_fps: float = 0.0
    num_samples: int = 512
    horizon: int = 20
    iterations: int = 3
    image_goal_mode: str = "closest"
    action_weight: float = 0.3
    device: str = "cpu"
    control_period_s: float = 0.1
    startup_timeout_s: float = 180.0
    refusal_timeout_s: float = 5.0
    """An episode whose goal brings no plan for this long, while the mpc node rejects what it gets, ends the run
    with the node's reason (a mono8 camera for a colour model, a mismatched preprocessing, ...)."""

    def __post_init__(self) -> None:
        if self.goal not in ("image", "pose"):
            raise ValueError(f"goal must be 'image' or 'pose', got {self.goal!r}")
        for name in ("control_period_s", "startup_timeout_s", "refusal_timeout_s"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {value!r}")

    @property
    def compressed(self) -> bool:
        return self.camera_encoding in COMPRESSED_FORMATS

    def overrides(self) -> list[str]:
        """rclpy arguments over the sim graph's parameter file."""
        from jepa_mpc.ros_nodes.bringup import robot_overrides

        transport = "compressed" if self.compressed else "raw"
        weight = "image_action_magnitude_weight" if self.goal == "image" else "action_magnitude_weight"
        values = {"sim_bridge": {"camera_size": self.camera_size, "camera_encoding": self.camera_encoding,
                                 "camera_fps": float(self.camera_fps), "control_period_s": self.control_period_s},
                  "mpc": {"checkpoint": self.checkpoint, "device": self.device, "torch_threads": 1,
                          "num_samples": self.num_samples, "horizon": self.horizon, "iterations": self.iterations,
                          "num_elites": max(1, min(32, self.num_samples // 8)),  # CEMConfig.for_samples, as eval
                          "image_goal_mode": self.image_goal_mode, weight: float(self.action_weight),
                          "image_transport": transport, "control_period_s": self.control_period_s},
                  "safety_filter": {"image_transport": transport, "control_period_s": self.control_period_s}}
        out = robot_overrides(self.robot, list(values))
        for node, params in values.items():
            for name, value in params.items():
                text = f"'{value}'" if isinstance(value, str) else str(value)
                out += ["-p", f"{node}:{name}:={text}"]
        return out


class _Watcher:
    """This process's node on the graph: relays goals, counts ticks, reads the nodes' diagnostics."""

    def __init__(self, context, robot) -> None:
        from diagnostic_msgs.msg import DiagnosticArray
        from geometry_msgs.msg import PoseStamped
        from lifecycle_msgs.srv import GetState
        from rcl_interfaces.srv import SetParameters
        from rclpy.node import Node
        from rclpy.qos import qos_profile_sensor_data
        from sensor_msgs.msg import Image, JointState
        from std_srvs.srv import Trigger

        from jepa_mpc.ros_nodes.sim_bridge import LATCHED

        self.robot = robot
        self.node = Node("eval_through_ros", context=context)
        self.pub_goal_image = self.node.create_publisher(Image, "/goal_image", 10)
        self.pub_goal_joints = self.node.create_publisher(JointState, "/goal_joint_states", 10)
        self.pub_goal_pose = self.node.create_publisher(PoseStamped, "/goal_pose", 10)
        self.sim_goal: dict[str, object] = {}
        self.sim_goal_received: dict[str, float] = {}
        for topic, kind, cls in (("/sim/goal_image", "image", Image), ("/sim/goal_joint_states", "joints", JointState),
                                 ("/sim/goal_pose", "pose", PoseStamped)):
            self.node.create_subscription(cls, topic, lambda msg, kind=kind: self._on_goal(kind, msg), LATCHED)
        self.ticks: list[tuple[float, np.ndarray]] = []  # (receipt, q model convention) of each /joint_states
        self.node.create_subscription(JointState, "/joint_states", self._on_joints, qos_profile_sensor_data)
        self.plan_ms: list[float] = []
        self.frame_to_plan_ms: list[float] = []  # camera frame stamp -> plan published: how old the plan's view is
        self.interventions = 0
        self.mpc_problem = ""  # the mpc node's last complaint (rejected frame, refused goal, failed plan)
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, 50)
        self.reset_client = self.node.create_client(Trigger, "/sim_bridge/reset")
        self.clear_client = self.node.create_client(Trigger, "/mpc/clear_goal")
        self.estop_client = self.node.create_client(Trigger, "/safety_filter/estop")
        self.release_client = self.node.create_client(Trigger, "/safety_filter/reset")
        self.param_client = self.node.create_client(SetParameters, "/sim_bridge/set_parameters")
        self.state_client = self.node.create_client(GetState, "/mpc/get_state")

    def _on_goal(self, kind: str, msg) -> None:
        self.sim_goal[kind], self.sim_goal_received[kind] = msg, time.monotonic()

    def _on_joints(self, msg) -> None:
        from jepa_mpc.ros_nodes.conversions import MessageError, joint_state_to_arrays

        try:
            q, _ = joint_state_to_arrays(msg, self.robot.joint_names)
        except MessageError:
            return
        self.ticks.append((time.monotonic(), self.robot.from_driver(q)))

    def _on_diag(self, msg) -> None:
        from diagnostic_msgs.msg import DiagnosticStatus

        for status in msg.status:
            values = {kv.key: kv.value for kv in status.values}
            if status.name == "mpc":
                if "total_ms" in values:  # encode + plan, what the in-process eval times
                    self.plan_ms.append(float(values["total_ms"]))
                    age = 1e3 * (float(values.get("plan_stamp_s", "nan")) - float(values.get("frame_stamp_s", "nan")))
                    if math.isfinite(age):
                        self.frame_to_plan_ms.append(age)
                    self.mpc_problem = ""
                elif status.level != DiagnosticStatus.OK and not status.message.startswith("holding"):
                    self.mpc_problem = status.message
            elif (status.name == "safety_filter" and status.level != DiagnosticStatus.OK and self.plan_ms
                  and ("plan_stamp_s" in values or status.message.startswith("HOLD"))):
                self.interventions += 1  # a plan changed or held once this episode's planning began

    def relay_goal(self, kind: str) -> None:
        if kind == "image":  # the joint positions first, same stamp: the mpc node pairs them by stamp
            self.pub_goal_joints.publish(self.sim_goal["joints"])
            self.pub_goal_image.publish(self.sim_goal["image"])
        else:
            self.pub_goal_pose.publish(self.sim_goal["pose"])


def run_through_ros(settings: GraphEvalSettings, seeds: list[int], judge: EpisodeJudge, max_steps: int,
                    progress: bool = True) -> list[dict]:
    """Run one episode per seed through a fresh graph; per episode: success, distances (initial + one per tick),
    first step within tolerance, plan times, interventions and violations, as `jepa-mpc eval` reports them."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    from jepa_mpc.robots import load_robot
    from jepa_mpc.ros_nodes.bringup import let_children_stop, start_node_processes, stop_node_processes
    from jepa_mpc.ros_nodes.graph import GRAPHS, default_params, localhost_discovery

    robot = load_robot(settings.robot)
    domain = random.randrange(150, 230)
    results: list[dict] = []
    with localhost_discovery(), _sigterm_as_interrupt(), large_frame_transport():
        context = rclpy.Context()
        rclpy.init(args=[], context=context, domain_id=domain)
        children, watcher, executor, interrupted = [], None, None, False
        try:
            children = start_node_processes(GRAPHS["sim"], default_params("sim"), tuple(settings.overrides()),
                                            env={"ROS_DOMAIN_ID": str(domain)})
            watcher = _Watcher(context, robot)
            executor = SingleThreadedExecutor(context=context)
            executor.add_node(watcher.node)

            def spin_until(done, timeout_s: float, what: str) -> None:
                deadline = time.monotonic() + timeout_s
                while not done():
                    if not context.ok():  # Ctrl-C: rclpy's handler shut the context down
                        raise KeyboardInterrupt
                    if any(child.poll() is not None for child in children):
                        raise RuntimeError(f"a node of the graph exited while waiting for {what}; see its log above")
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"no {what} within {timeout_s:.0f} s")
                    executor.spin_once(timeout_sec=0.02)

            def call(client, request, what: str):
                spin_until(client.service_is_ready, settings.startup_timeout_s, f"{what} service")
                future = client.call_async(request)
                spin_until(future.done, 10.0, f"answer from {what}")
                return future.result()

            from lifecycle_msgs.srv import GetState

            spin_until(lambda: bool(watcher.ticks), settings.startup_timeout_s, "joint states from sim_bridge")
            deadline = time.monotonic() + settings.startup_timeout_s
            while call(watcher.state_client, GetState.Request(), "/mpc/get_state").current_state.label != "active":
                if time.monotonic() > deadline:  # configure loads the checkpoint: a goal before that is refused
                    raise RuntimeError(f"the mpc node is not active within {settings.startup_timeout_s:.0f} s")
                pause = time.monotonic() + 0.2
                spin_until(lambda pause=pause: time.monotonic() > pause, 1.0, "a pause")
            for n, seed in enumerate(seeds):
                results.append(_episode(watcher, settings, seed, judge, max_steps, spin_until, call))
                if progress:
                    done = sum(r["success"] for r in results)
                    print(f"\reval --through-ros: episode {n + 1}/{len(seeds)}, {done} successes", end="",  # noqa: T201
                          file=sys.stderr, flush=True)
            if progress:
                print(file=sys.stderr)  # noqa: T201
        except KeyboardInterrupt:
            interrupted = True
            raise
        finally:
            if interrupted:  # Ctrl-C reached the graph's processes too: they stop on their own first
                let_children_stop(children)
            stop_node_processes(children)
            if executor is not None:
                executor.shutdown()
            if watcher is not None:
                watcher.node.destroy_node()
            rclpy.try_shutdown(context=context)
    return results


@contextlib.contextmanager
def large_frame_transport():
    """While the graph runs, Fast DDS uses launch/fastdds_large_frames.xml (a 32 MB shared-memory segment) when the
    RMW is Fast DDS and no profile file is set already. Measured on the 2-core machine with a 640x480 camera at 30
    fps and the default 512 KB segment: raw bgr8 frames (921,600 bytes) travel as UDP fragments that get dropped
    and plans starve (31 of 50 reached); with JPEG frames, a goal message arrived 3 s late (Fast DDS's
    heartbeat period: a lost sample sent again) in 2 of 50 episodes. With the profile: 50 of 50 with either."""
    import os

    from jepa_mpc.ros_nodes.graph import launch_dir

    keys = ("FASTDDS_DEFAULT_PROFILES_FILE", "FASTRTPS_DEFAULT_PROFILES_FILE")
    fastdds = os.environ.get("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp").startswith("rmw_fastrtps")
    if not fastdds or any(os.environ.get(k) for k in keys):
        yield
        return
    os.environ[keys[0]] = str(launch_dir() / "fastdds_large_frames.xml")
    try:
        yield
    finally:
        os.environ.pop(keys[0], None)


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """SIGTERM (a service manager, `kill`) ends the run like Ctrl-C: the graph's processes are stopped, not left
    running (main thread only; elsewhere Python cannot install handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(*_):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _episode(watcher: _Watcher, settings: GraphEvalSettings, seed: int, judge: EpisodeJudge, max_steps: int,
             spin_until, call) -> dict:
    from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
    from rcl_interfaces.srv import SetParameters
    from std_srvs.srv import Trigger

    from jepa_mpc.ros_nodes.conversions import joint_state_to_arrays

    call(watcher.clear_client, Trigger.Request(), "/mpc/clear_goal")
    request = SetParameters.Request(parameters=[Parameter(name="seed", value=ParameterValue(
        type=ParameterType.PARAMETER_INTEGER, integer_value=int(seed)))])
    start_q, goal_q = judge.reset(seed)
    kinds = ("image", "joints") if settings.goal == "image" else ("pose",)
    for _ in range(RESET_TRIES):
        # The arm is e-stopped while the simulator puts it at the episode's start, then released: the filter's
        # next command starts from the arm where it now is (a hold sent in between could pull it back; checked)
        call(watcher.estop_client, Trigger.Request(), "/safety_filter/estop")
        answer = call(watcher.param_client, request, "/sim_bridge/set_parameters")
        if not answer.results[0].successful:
            raise RuntimeError(f"sim_bridge refused seed {seed}: {answer.results[0].reason}")
        reset_at = time.monotonic()
        if not call(watcher.reset_client, Trigger.Request(), "/sim_bridge/reset").success:
            raise RuntimeError("sim_bridge did not reset")
        # release only once the filter has seen where the reset put the arm: the sim bridge ignores commands for
        # its reset_grace_s (0.3 s), so the holds the stopped filter sends meanwhile (for the old pose) are dropped
        settle = time.monotonic() + RELEASE_AFTER_S
        spin_until(lambda settle=settle: time.monotonic() > settle, 5.0, "the reset to settle")
        call(watcher.release_client, Trigger.Request(), "/safety_filter/reset")
        released_at = time.monotonic()
        spin_until(lambda reset_at=reset_at, released_at=released_at: all(
            watcher.sim_goal_received.get(k, -math.inf) > reset_at for k in kinds)
            and watcher.ticks[-1][0] > released_at + 0.15, 10.0, "new episode from sim_bridge")
        start_offset = float(np.abs(watcher.ticks[-1][1] - start_q).max())
        if start_offset < START_TOLERANCE_RAD:
            break
    if settings.goal == "image":
        sim_goal_q, _ = joint_state_to_arrays(watcher.sim_goal["joints"], watcher.robot.joint_names)
        if not np.allclose(watcher.robot.from_driver(sim_goal_q), goal_q, atol=1e-5):
            raise RuntimeError(f"the graph's episode of seed {seed} has another goal than the in-process one")
    _, q0 = watcher.ticks[-1]
    distance, _, _ = judge.step(q0)
    distances, violations, first = [distance], 0, None
    watcher.plan_ms.clear()
    watcher.frame_to_plan_ms.clear()
    watcher.interventions = 0
    watcher.relay_goal(settings.goal)
    goal_sent, seen, success = time.monotonic(), len(watcher.ticks), False
    for t in range(max_steps):
        spin_until(lambda seen=seen: len(watcher.ticks) > seen, 5.0, "joint states")
        seen += 1
        distance, success, violated = judge.step(watcher.ticks[seen - 1][1])
        distances.append(distance)
        violations += violated
        if success and first is None:
            first = t + 1
        if (not watcher.plan_ms and watcher.mpc_problem
                and time.monotonic() - goal_sent > settings.refusal_timeout_s):
            raise RuntimeError(f"the mpc node plans nothing: {watcher.mpc_problem}")
    del watcher.ticks[:-3]  # the next episode needs only the latest
    return {"success": bool(success), "final_distance": float(distances[-1]), "steps_to_success": first,
            "plan_ms": list(watcher.plan_ms), "interventions": int(watcher.interventions),
            "violations": int(violations), "distances": distances, "start_offset_rad": start_offset,
            "frame_to_plan_ms": list(watcher.frame_to_plan_ms)}
