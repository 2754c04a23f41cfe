"""The ROS 2 launch files build exactly the graph `jepa-mpc bringup` starts: same nodes, executables, parameters.

`launch`/`launch_ros` are not on PyPI, so minimal stand-ins record what the launch file asks for; the executables
must be console scripts the package installs, and the parameter files must load in rclpy.
"""
from __future__ import annotations

import importlib.util
import pathlib
import sys
import types

import pytest
import tomllib

from jepa_mpc.ros_nodes.graph import GRAPHS, default_params, launch_dir

ROOT = pathlib.Path(__file__).resolve().parents[2]


class _Recorder:
    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs


class _LaunchConfiguration(_Recorder):
    def perform(self, context: dict) -> str:
        return context[self.args[0]]


class _ParameterValue(_Recorder):
    pass


@pytest.fixture
def fake_launch(monkeypatch):
    launch = types.ModuleType("launch")
    launch.LaunchDescription = lambda entities: list(entities)
    actions = types.ModuleType("launch.actions")
    actions.DeclareLaunchArgument = type("DeclareLaunchArgument", (_Recorder,), {})
    actions.OpaqueFunction = type("OpaqueFunction", (_Recorder,), {})
    subs = types.ModuleType("launch.substitutions")
    subs.LaunchConfiguration = _LaunchConfiguration
    launch_ros = types.ModuleType("launch_ros")
    ros_actions = types.ModuleType("launch_ros.actions")
    ros_actions.Node = type("Node", (_Recorder,), {})
    descriptions = types.ModuleType("launch_ros.parameter_descriptions")
    descriptions.ParameterValue = _ParameterValue
    for name, mod in {"launch": launch, "launch.actions": actions, "launch.substitutions": subs,
                      "launch_ros": launch_ros, "launch_ros.actions": ros_actions,
                      "launch_ros.parameter_descriptions": descriptions}.items():
        monkeypatch.setitem(sys.modules, name, mod)
    return ros_actions.Node


def _launch(graph: str, file: str, **arguments):
    """(declared launch arguments by name, the Node actions) of a launch file run with `arguments` (else defaults)."""
    spec = importlib.util.spec_from_file_location(f"launch_{graph}", launch_dir() / file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    entities = module.generate_launch_description()
    declared = {e.args[0]: e for e in entities if type(e).__name__ == "DeclareLaunchArgument"}
    context = {name: arguments.get(name, e.kwargs["default_value"]) for name, e in declared.items()}
    nodes = [n for e in entities if type(e).__name__ == "OpaqueFunction" for n in e.kwargs["function"](context)]
    return declared, nodes


@pytest.mark.parametrize("graph, file", [("sim", "sim_arm.launch.py"), ("real", "real_arm.launch.py")])
def test_launch_file_matches_graph(fake_launch, graph, file):
    declared, nodes = _launch(graph, file)
    assert all(isinstance(n, fake_launch) for n in nodes)
    expected = [(s.name, s.executable) for s in GRAPHS[graph]]
    assert [(n.kwargs["name"], n.kwargs["executable"]) for n in nodes] == expected
    assert all(n.kwargs["package"] == "jepa_mpc" for n in nodes)
    assert list(declared)[0] == "params" and declared["params"].kwargs["default_value"] == str(default_params(graph))
    # without a robot_description argument the parameter file decides: the nodes get the file only
    assert declared["robot_description"].kwargs["default_value"] == ""
    assert all(n.kwargs["parameters"] == [str(default_params(graph))] for n in nodes)


@pytest.mark.parametrize("graph, file", [("sim", "sim_arm.launch.py"), ("real", "real_arm.launch.py")])
def test_launch_robot_description_argument_reaches_every_node(fake_launch, graph, file):
    _, nodes = _launch(graph, file, robot_description="robosuite:ur5e")
    assert len(nodes) == len(GRAPHS[graph])
    for node in nodes:
        params_file, override = node.kwargs["parameters"]
        assert params_file == str(default_params(graph))  # the file first, the argument over it
        value = override["robot_description"]
        assert value.args == ("robosuite:ur5e",) and value.kwargs == {"value_type": str}


def test_executables_are_installed_console_scripts():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    for specs in GRAPHS.values():
        for spec in specs:
            assert scripts[spec.executable] == f"{spec.module}:main"
            module = importlib.import_module(spec.module)
            assert callable(module.main) and hasattr(module, spec.cls)


@pytest.mark.parametrize("graph", sorted(GRAPHS))
def test_parameter_files_load_into_every_node_config(graph):
    """Each node of the graph accepts its YAML block (type-checked by rclpy, value-checked by the dataclasses)."""
    rclpy = pytest.importorskip("rclpy")
    from jepa_mpc.ros_nodes.bringup import ros_args

    context = rclpy.Context()
    rclpy.init(args=ros_args(default_params(graph)), context=context)
    try:
        for spec in GRAPHS[graph]:
            if spec.name == "sim_bridge":
                continue  # starts a simulator; its parameters are covered by the graph tests
            node = getattr(importlib.import_module(spec.module), spec.cls)(spec.name, context=context)
            node.destroy_node()  # constructing it validated the block (values: the test below)
    finally:
        rclpy.try_shutdown(context=context)


def test_real_arm_yaml_values_reach_the_nodes():
    """What rclpy loads from launch/real_arm.yaml (zones, speed zone, limits, max_step_rad, watchdog ages) is what
    the safety filter checks with and what the mpc node reads, value for value (the YAML read here independently)."""
    rclpy = pytest.importorskip("rclpy")
    import numpy as np
    import yaml

    from jepa_mpc.planner.config import SpeedZone, SphereZone
    from jepa_mpc.ros_nodes.bringup import ros_args
    from jepa_mpc.ros_nodes.mpc_node import MpcNode
    from jepa_mpc.ros_nodes.safety_filter_node import SafetyFilterNode

    path = default_params("real")
    doc = yaml.safe_load(path.read_text())
    common, own = doc["/**"]["ros__parameters"]["guardrails"], doc["safety_filter"]["ros__parameters"]
    context = rclpy.Context()
    rclpy.init(args=ros_args(path), context=context)
    try:
        node = SafetyFilterNode("safety_filter", context=context)
        try:
            f, cfg = node.filter, node.cfg
            g = f.cfg.guardrails
            assert g.workspace_lo == tuple(common["workspace_lo"]) and g.workspace_hi == tuple(common["workspace_hi"])
            cx, cy, cz, r = common["keep_out_spheres"]
            assert g.keep_out == (SphereZone((cx, cy, cz), r),)
            sx, sy, sz, sr, v = common["speed_zone_spheres"]
            assert g.speed_zones == (SpeedZone(SphereZone((sx, sy, sz), sr), v),)
            assert (g.table_z_m, g.table_margin_m) == (common["table_z_m"], common["table_margin_m"])
            offsets = node.robot.to_driver(np.zeros(node.robot.dof))  # driver = description + offset
            lower = np.maximum(np.array(common["joint_lower"]) - offsets, f.mjcf_lower) + common["joint_margin_rad"]
            np.testing.assert_allclose(f.lower, lower)
            assert np.all(f.max_step <= own["max_step_rad"]) and np.isclose(f.max_step.max(), own["max_step_rad"])
            assert cfg.joint_names == tuple(own["joint_names"]) and cfg.command_topic == own["command_topic"]
            assert (cfg.max_joint_state_age_s, cfg.max_image_age_s, cfg.max_plan_age_s) == (
                own["max_joint_state_age_s"], own["max_image_age_s"], own["max_plan_age_s"])
            assert f.cfg.max_obs_age_s == own["max_joint_state_age_s"]
        finally:
            node.destroy_node()
        mpc = MpcNode("mpc", context=context)
        try:
            assert mpc.cfg.guardrails == node.cfg.guardrails  # the /** block reaches both nodes alike
            assert mpc.cfg.image_topic == doc["mpc"]["ros__parameters"]["image_topic"]
        finally:
            mpc.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)


def test_package_xml_is_format3_ament_python():
    import xml.etree.ElementTree as ET

    root = ET.parse(ROOT / "package.xml").getroot()
    assert root.get("format") == "3" and root.findtext("name") == "jepa_mpc"
    assert root.find("export/build_type").text == "ament_python"
    deps = {d.text for d in root.findall("exec_depend")}
    assert {"rclpy", "sensor_msgs", "trajectory_msgs", "std_srvs", "diagnostic_msgs"} <= deps


def test_bringup_runs_the_sim_graph_and_stops_cleanly():
    """`jepa-mpc bringup sim` (one process): every node comes up (a failed configure raises) and --duration stops it."""
    import time

    pytest.importorskip("rclpy")
    from jepa_mpc.ros_nodes.bringup import run_in_process

    start = time.monotonic()
    assert run_in_process(GRAPHS["sim"], default_params("sim"), duration_s=4.0) == 0
    assert time.monotonic() - start < 30.0


def _flat_keys(block: dict, prefix: str = "") -> set[str]:
    out = set()
    for key, value in block.items():
        out |= _flat_keys(value, f"{prefix}{key}.") if isinstance(value, dict) else {prefix + key}
    return out


@pytest.mark.parametrize("path", sorted(launch_dir().glob("*.yaml")), ids=lambda p: p.name)
def test_every_name_in_a_parameter_file_is_a_parameter_of_its_node(path):
    """rclpy ignores a name no node declares: a typo in a cell's file would silently keep the default."""
    import yaml

    pytest.importorskip("rclpy")
    from jepa_mpc.ros_nodes.mpc_node import MpcNodeConfig
    from jepa_mpc.ros_nodes.params import flatten
    from jepa_mpc.ros_nodes.safety_filter_node import SafetyFilterNodeConfig
    from jepa_mpc.ros_nodes.sim_bridge import SimBridgeConfig

    declared = {name: set(flatten(cls)) for name, cls in (("sim_bridge", SimBridgeConfig), ("mpc", MpcNodeConfig),
                                                           ("safety_filter", SafetyFilterNodeConfig))}
    for node, block in yaml.safe_load(path.read_text()).items():
        names = _flat_keys(block["ros__parameters"])
        known = set.union(*declared.values()) if node == "/**" else declared[node]
        assert names <= known, f"{path.name}: {node} has no parameters {sorted(names - known)}"
