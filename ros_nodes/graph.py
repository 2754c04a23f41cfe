"""The node graphs, in one place: `launch/*.launch.py` (real ROS installs) and `jepa-mpc bringup` (pip installs)
both build the sim and real graphs from these lists, so the two paths cannot drift apart.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import pathlib


@dataclasses.dataclass(frozen=True)
class NodeSpec:
    """One node of a graph: its ROS name, the class that implements it, and its `ros2 run` executable."""

    name: str
    module: str
    cls: str
    executable: str


SIM_BRIDGE = NodeSpec("sim_bridge", "jepa_mpc.ros_nodes.sim_bridge", "SimBridgeNode", "jepa_mpc_sim_bridge")
MPC = NodeSpec("mpc", "jepa_mpc.ros_nodes.mpc_node", "MpcNode", "jepa_mpc_mpc")
SAFETY_FILTER = NodeSpec("safety_filter", "jepa_mpc.ros_nodes.safety_filter_node", "SafetyFilterNode",
                         "jepa_mpc_safety_filter")

GRAPHS: dict[str, tuple[NodeSpec, ...]] = {
    "sim": (SIM_BRIDGE, MPC, SAFETY_FILTER),
    "real": (MPC, SAFETY_FILTER),
}
PARAM_FILES = {"sim": "sim_arm.yaml", "real": "real_arm.yaml"}


def launch_dir() -> pathlib.Path:
    """The launch/ folder: in the source tree (pip -e), or the package's share folder (colcon)."""
    source = pathlib.Path(__file__).resolve().parents[1] / "launch"
    if source.is_dir():
        return source
    try:
        from ament_index_python.packages import get_package_share_directory

        return pathlib.Path(get_package_share_directory("jepa_mpc")) / "launch"
    except Exception as exc:  # noqa: BLE001 - any failure here means the same thing
        raise FileNotFoundError("cannot find the jepa_mpc launch/ folder (source tree or ROS share)") from exc


def default_params(graph: str) -> pathlib.Path:
    """The YAML parameter file the `graph` uses unless told otherwise."""
    if graph not in GRAPHS:
        raise ValueError(f"unknown graph {graph!r}; valid: {sorted(GRAPHS)}")
    return launch_dir() / PARAM_FILES[graph]


@contextlib.contextmanager
def localhost_discovery():
    """ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST while a graph this process starts exists (bench, eval
    --through-ros); restored afterwards."""
    key = "ROS_AUTOMATIC_DISCOVERY_RANGE"
    before = os.environ.get(key)
    os.environ[key] = "LOCALHOST"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = before
