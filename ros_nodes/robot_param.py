"""The `robot_description` parameter of the sim_bridge, mpc and safety_filter nodes: which arm they serve.

A node's `robot_description` is what `jepa_mpc.robots.load_robot` takes: `panda` (the embedded Panda, with
Franka's driver names and joint offsets), `robosuite:NAME`, `pybullet_data:PATH`, a URDF/MJCF file path, or the
URDF/MJCF text itself (what robot_state_publisher's `robot_description` parameter holds). The empty string means
"this cell publishes its description": the node waits (up to `robot_description_timeout_s`) for one message on
`/robot_description` (std_msgs/String, transient-local durability, as robot_state_publisher publishes it).

Joint-space values cross the ROS boundary in the driver's convention (what /joint_states reports and the
joint_trajectory_controller takes): the nodes convert with `robot.from_driver` on the way in and `robot.to_driver`
on the way out, and plan and filter in the description's (model) convention.

A description that cannot be loaded is a `NodeStartupError` carrying the loader's message: the node (or its
configure transition) fails with that one line, never a traceback.
"""
from __future__ import annotations

import math

import numpy as np

ROBOT_TOPIC = "/robot_description"
ROBOT_HELP = ("the arm: panda, robosuite:NAME, pybullet_data:PATH, a URDF/MJCF file or its XML text; empty: wait "
              "for /robot_description (std_msgs/String, transient local)")
TIMEOUT_HELP = "how long an empty robot_description waits for the /robot_description topic, s"


_DESCRIBED: set[int] = set()


class NodeStartupError(RuntimeError):
    """A node cannot start with its parameters (e.g. a robot description that does not load); the message says
    why and what to do. Entry points print it without a traceback."""


def check_timeout(value: float) -> None:
    """Validate robot_description_timeout_s (a config's __post_init__ calls this)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"robot_description_timeout_s must be a positive number, got {value!r}")


def label(description: str) -> str:
    """A short name of a description for logs (URDF/MJCF text is not printed)."""
    text = str(description).strip()
    if not text:
        return ROBOT_TOPIC
    return "robot_description text" if text.startswith("<") else text


def is_embedded_panda(robot) -> bool:
    """The embedded Panda (`robot_description: panda`), the arm the shipped checkpoint and the Panda sim tasks
    are for."""
    return robot.cfg.description.strip() == "panda"


def wait_for_description(context, timeout_s: float, logger=None, owner: str = "node") -> str:
    """The URDF/MJCF text of the first message on /robot_description (transient local: a description published
    before we subscribed arrives too); NodeStartupError after `timeout_s` without one."""
    import rclpy
    from rclpy.qos import QoSDurabilityPolicy, QoSProfile, QoSReliabilityPolicy
    from rclpy.wait_for_message import wait_for_message
    from std_msgs.msg import String

    if logger is not None:
        logger.info(f"robot_description is empty: waiting up to {timeout_s:g} s for the arm's description on "
                    f"{ROBOT_TOPIC} (std_msgs/String, transient local, as robot_state_publisher publishes it)")
    qos = QoSProfile(depth=1, durability=QoSDurabilityPolicy.TRANSIENT_LOCAL,
                     reliability=QoSReliabilityPolicy.RELIABLE)
    listener = rclpy.create_node(f"{owner.strip('/').replace('/', '_')}_robot_description_listener",
                                 context=context, start_parameter_services=False, enable_rosout=False,
                                 use_global_arguments=False)  # not renamed by a process-wide __node:= remap
    try:
        ok, msg = wait_for_message(String, listener, ROBOT_TOPIC, qos_profile=qos, time_to_wait=timeout_s)
    finally:
        listener.destroy_node()
    if not ok or msg is None or not msg.data.strip():
        raise NodeStartupError(
            f"no robot description on {ROBOT_TOPIC} within {timeout_s:g} s: start robot_state_publisher (or the "
            "driver that publishes it), or set the robot_description parameter to a robot name or a URDF/MJCF file")
    return msg.data


def resolve_robot(description: str, *, context=None, timeout_s: float = 30.0, logger=None, owner: str = "node"):
    """The Robot a node serves: load_robot(description), or the /robot_description topic's when description is
    empty. Raises NodeStartupError with the loader's message (RobotDescriptionError, missing file, bad XML)."""
    from jepa_mpc.robots import RobotDescriptionError, load_robot

    text = str(description).strip()
    if not text:
        if context is None:
            raise NodeStartupError("robot_description is empty and there is no ROS context to read "
                                   f"{ROBOT_TOPIC} from")
        text = wait_for_description(context, timeout_s, logger, owner)
        where = f"the description on {ROBOT_TOPIC}"
    elif text.startswith("<"):
        where = "the robot_description text"
    else:
        where = f"robot_description {text!r}"
    try:
        robot = load_robot(text)
    except (RobotDescriptionError, ValueError, OSError) as exc:
        raise NodeStartupError(f"{where} cannot be used: {exc}") from None
    if logger is not None:
        if id(robot) in _DESCRIBED:  # nodes sharing a process share the (cached) Robot: describe it once
            logger.info(f"robot {robot.name}: {robot.dof} arm joints (described above)")
        else:
            _DESCRIBED.add(id(robot))
            logger.info(robot.describe())
    return robot


def node_robot(node):
    """resolve_robot for a node whose config (`node.cfg`) has robot_description and robot_description_timeout_s,
    waiting in its context and logging to its logger."""
    return resolve_robot(node.cfg.robot_description, context=node.context,
                         timeout_s=node.cfg.robot_description_timeout_s, logger=node.get_logger(),
                         owner=node.get_name())


def arm_joint_names(names, robot) -> tuple[str, ...]:
    """The `joint_names` parameter for `robot`: empty means the robot's driver names; otherwise one distinct name
    per arm joint, in the description's order (NodeStartupError if not)."""
    names = tuple(names) or tuple(robot.joint_names)
    if len(names) != robot.dof or len(set(names)) != len(names):
        raise NodeStartupError(f"joint_names {list(names)} must name the {robot.dof} arm joints of {robot.name} "
                               f"once each, in its order {list(robot.joint_names)} (or be empty for those names)")
    return names


def driver_offsets(names, arm_names, robot) -> np.ndarray:
    """Per entry of `names` (e.g. proprio_joint_names): the driver offset of that arm joint, 0 for other joints
    (fingers). model = driver - offsets."""
    index = {name: i for i, name in enumerate(arm_names)}
    return np.array([robot.joint_offsets[index[n]] if n in index else 0.0 for n in names], dtype=np.float64)
