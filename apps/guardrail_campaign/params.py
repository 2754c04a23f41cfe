"""The configuration under test: the robot, the safety filter's config (authoritative) and the MPC's.

Two sources:

- `CampaignParams.defaults(robot)`: the planner's own defaults for one robot (no YAML, no ROS needed). Joint
  limits, speeds and accelerations are the robot's (its description's, or its preset's); the cell around it is the
  one the stack gives a robot when nobody configured one (planner.config.guardrails_for): the table at the base's
  height and, with R the robot's reach (robot.reach_m: how far its tool point gets from the shoulder), the
  workspace box base + R x [-0.35, 1.05] along the base's forward axis, R x [-0.9, 0.9] across it, from the table
  up to R above the shoulder (planner.config.workspace_for; for the embedded Panda, GuardrailConfig's documented
  box, which that rule nearly reproduces). The box must hold the robot's home tool point: when it does not (with
  5 cm to spare), it is grown to, and a warning says so.
- `load_params(path)`: a ROS 2 YAML parameter file, read the way the nodes read it. The robot is the
  `robot_description` parameter of the file's safety_filter block (else the mpc block's; a name, a file or
  URDF/MJCF text), unless the caller names one; neither: the embedded Panda.
"""

from __future__ import annotations

import dataclasses
import pathlib
from collections.abc import Mapping

import numpy as np
import yaml

from jepa_mpc.planner.config import CostConfig, GuardrailConfig, MPCConfig, SafetyConfig, guardrails_for
from jepa_mpc.robots import Robot, RobotConfig, load_robot

ROBOT_PARAM = "robot_description"
"""The nodes' parameter naming the arm (a robot name, a URDF/MJCF file, or the description's text)."""
HOME_SPARE_M = 0.05
"""A derived workspace box holds the robot's home tool point with this much to spare on every side."""
_IGNORED_ROS_PARAMS = ("use_sim_time", "qos_overrides", "start_type_description_service")


@dataclasses.dataclass(frozen=True)
class CampaignParams:
    """The configuration under test: the safety filter's (authoritative) and the MPC's, for one robot."""

    safety: SafetyConfig
    """As the safety_filter node builds it."""
    mpc: MPCConfig
    """As the mpc node builds it (the campaign shrinks samples, horizon, iterations; keeps the rest)."""
    image_costs: CostConfig
    pose_costs: CostConfig
    planner_guardrails: GuardrailConfig
    checkpoint: str = ""
    """The mpc node's checkpoint parameter ('' = the shipped checkpoint, which only the embedded Panda has)."""
    source: str = "planner defaults"
    warnings: tuple[str, ...] = ()
    robot: Robot | RobotConfig | str = "panda"
    """The arm: a Robot, a RobotConfig, or what load_robot takes (a name, a file, URDF/MJCF text)."""

    @classmethod
    def defaults(cls, robot: Robot | RobotConfig | str = "panda") -> CampaignParams:
        """The planner's own defaults for `robot` (no YAML, no ROS needed); see the module docstring."""
        robot = load_robot(robot)
        g, notes = cell_guardrails(robot)
        source = "planner defaults" if is_embedded_panda(robot) else f"planner defaults for {robot.name}"
        return cls(
            safety=SafetyConfig(guardrails=g),
            mpc=MPCConfig(),
            image_costs=CostConfig(terms=("goal_energy", "action_magnitude", "action_rate")),
            pose_costs=CostConfig(terms=("pose_fk", "action_magnitude", "action_rate")),
            planner_guardrails=g,
            source=source,
            warnings=notes,
            robot=robot,
        )


def is_embedded_panda(robot: Robot) -> bool:
    """The arm the shipped checkpoint was trained on (the embedded Panda, not a Panda from another file)."""
    return robot.cfg.description.strip() == "panda"


def cell_guardrails(robot: Robot) -> tuple[GuardrailConfig, tuple[str, ...]]:
    """The guardrails of an unconfigured cell around `robot` (guardrails_for), with a workspace box that holds the
    home tool point (HOME_SPARE_M to spare); (config, warnings)."""
    g = guardrails_for(robot)
    tool = np.asarray(robot.tool_position(robot.home), dtype=np.float64)
    lo, hi = np.asarray(g.workspace_lo, dtype=np.float64), np.asarray(g.workspace_hi, dtype=np.float64)
    if np.all(tool >= lo + HOME_SPARE_M) and np.all(tool <= hi - HOME_SPARE_M):
        return g, ()
    lo, hi = np.minimum(lo, tool - HOME_SPARE_M), np.maximum(hi, tool + HOME_SPARE_M)
    lo[2] = g.workspace_lo[2]  # the floor stays the table: a home below it is the table check's business
    grown = dataclasses.replace(g, workspace_lo=tuple(float(v) for v in lo), workspace_hi=tuple(float(v) for v in hi))
    note = (f"{robot.name}: the workspace box derived from its reach did not hold its home tool point "
            f"{np.round(tool, 3).tolist()}; grown to {grown.workspace_lo} .. {grown.workspace_hi}")
    return grown, (note,)


def _flatten_ros(block: object, prefix: str, out: dict[str, object]) -> None:
    """Nested ros__parameters dicts -> dotted names, as rcl reads a parameter file."""
    if isinstance(block, Mapping):
        for key, value in block.items():
            _flatten_ros(value, f"{prefix}{key}.", out)
    else:
        out[prefix[:-1]] = block


def node_parameters(doc: Mapping, node: str) -> tuple[dict[str, object], dict[str, object]]:
    """(all values that apply to `node`, values from blocks naming `node` itself), in file order.

    A block applies when its key is `/**` or `/*` (every node) or ends with the node's name
    (`safety_filter`, `/safety_filter`, `/**/safety_filter`, `/ns/safety_filter`); later blocks override.
    """
    merged: dict[str, object] = {}
    own: dict[str, object] = {}
    for key, block in doc.items():
        if not isinstance(block, Mapping) or "ros__parameters" not in block:
            continue
        name = str(key).strip("/").split("/")[-1]
        if name not in ("**", "*", node):
            continue
        flat: dict[str, object] = {}
        _flatten_ros(block["ros__parameters"] or {}, "", flat)
        merged.update(flat)
        if name == node:
            own.update(flat)
    return merged, own


def _robot_label(value: object) -> str:
    text = str(value).strip()
    return "robot_description (URDF/MJCF text)" if text.startswith("<") else text


def load_params(path: str | pathlib.Path, robot: Robot | RobotConfig | str | None = None) -> CampaignParams:
    """Read a ROS 2 YAML parameter file the way the nodes do and build the configs they build.

    Uses the nodes' own config classes (SafetyFilterNodeConfig, MpcNodeConfig, GuardrailParams) and
    ros_nodes.params.build, so this cannot drift from the nodes; those modules import rclpy, so reading a
    parameter file needs the ROS Python packages (`pip install .[ros]` or a sourced ROS install).
    The robot: `robot` when given, else the file's `robot_description` (safety_filter's, else mpc's), else the
    embedded Panda. A `robot_description` the node configs do not (yet) declare is read here and not passed on.
    Raises ValueError on values the nodes would reject (and on a robot description that cannot be read),
    FileNotFoundError on a missing file.
    """
    path = pathlib.Path(path)
    with open(path, encoding="utf-8") as fh:
        doc = yaml.safe_load(fh) or {}
    if not isinstance(doc, Mapping):
        raise ValueError(f"{path}: expected a mapping of node names to ros__parameters")  # noqa: TRY004
    try:
        from jepa_mpc.ros_nodes.mpc_node import MpcNodeConfig
        from jepa_mpc.ros_nodes.params import build, flatten
        from jepa_mpc.ros_nodes.safety_filter_node import SafetyFilterNodeConfig
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise RuntimeError(
            f"reading {path} needs the ROS 2 Python packages that the node configs import ({exc}); "
            "install them (pip install .[ros]) or source a ROS 2 install"
        ) from exc
    warnings: list[str] = []
    configs = {}
    described: dict[str, str] = {}
    for node, cls in (("safety_filter", SafetyFilterNodeConfig), ("mpc", MpcNodeConfig)):
        values, own = node_parameters(doc, node)
        known = set(flatten(cls))
        if ROBOT_PARAM in values:
            if str(values[ROBOT_PARAM]).strip():
                described[node] = str(values[ROBOT_PARAM]).strip()
            if ROBOT_PARAM not in known:
                values = {k: v for k, v in values.items() if k != ROBOT_PARAM}
        for name in sorted(set(values) - known):
            if name.startswith(_IGNORED_ROS_PARAMS):
                continue
            if name in own or name.startswith("guardrails."):
                warnings.append(f"{node}: unknown parameter {name!r} is ignored (a typo?)")
        try:
            configs[node] = build(cls, values)
        except ValueError as exc:
            raise ValueError(f"{path}: {node} parameters rejected: {exc}") from exc
    if len(set(described.values())) > 1:
        warnings.append("safety_filter and mpc name different robots in robot_description; the campaign checks "
                        f"the safety filter's ({_robot_label(described['safety_filter'])})")
    from_file = described.get("safety_filter", described.get("mpc"))
    given = None if robot is None else (robot.strip() if isinstance(robot, str) else load_robot(robot).cfg.description)
    if given is not None and from_file is not None and given != from_file:
        warnings.append(f"the file's robot_description ({_robot_label(from_file)}) is overridden by the robot "
                        f"given ({_robot_label(given)})")
    chosen = robot if robot is not None else (from_file if from_file is not None else "panda")
    try:
        arm = load_robot(chosen)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: robot {_robot_label(chosen)} cannot be loaded: {exc}") from exc
    sf, mpc_node = configs["safety_filter"], configs["mpc"]
    # The nodes' own conversions, for this arm: its derived workspace where the file sets none, and the
    # file's joint limits read in the driver's convention, as the nodes read them.
    mpc_cfg, image_costs, pose_costs, planner_guardrails = mpc_node.to_planner_configs(arm)
    return CampaignParams(
        safety=sf.safety_config(arm),
        mpc=mpc_cfg,
        image_costs=image_costs,
        pose_costs=pose_costs,
        planner_guardrails=planner_guardrails,
        checkpoint=str(mpc_node.checkpoint),
        source=str(path),
        warnings=tuple(warnings),
        robot=arm,
    )
