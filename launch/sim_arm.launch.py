"""Sim arm graph: sim_bridge (a MuJoCo arm) + mpc + safety_filter.

    ros2 launch jepa_mpc sim_arm.launch.py [params:=/path/to/params.yaml] [robot_description:=robosuite:ur5e]

`robot_description` (a robot name or a URDF/MJCF file) is given to every node over the parameter file's; empty
(the default) keeps the file's (the embedded Panda in launch/sim_arm.yaml). The node list comes from
jepa_mpc.ros_nodes.graph, shared with `jepa-mpc bringup sim`.
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

from jepa_mpc.ros_nodes.graph import GRAPHS, default_params


def _nodes(context, *args, **kwargs):
    params = LaunchConfiguration("params").perform(context)
    robot = LaunchConfiguration("robot_description").perform(context).strip()
    overrides = [{"robot_description": ParameterValue(robot, value_type=str)}] if robot else []
    return [Node(package="jepa_mpc", executable=spec.executable, name=spec.name, parameters=[params, *overrides],
                 output="screen") for spec in GRAPHS["sim"]]


def generate_launch_description():
    return LaunchDescription([
        DeclareLaunchArgument("params", default_value=str(default_params("sim")),
                              description="YAML parameter file for all nodes"),
        DeclareLaunchArgument("robot_description", default_value="",
                              description="the arm for every node (panda, robosuite:NAME, pybullet_data:PATH, a "
                                          "URDF/MJCF file); empty: the parameter file's"),
        OpaqueFunction(function=_nodes),
    ])
