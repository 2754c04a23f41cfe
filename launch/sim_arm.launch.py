"""Sim arm graph: sim_bridge (MuJoCo Panda) + mpc + safety_filter.

    ros2 launch jepa_mpc sim_arm.launch.py [params:=/path/to/params.yaml]

The node list comes from jepa_mpc.ros_nodes.graph, shared with `jepa-mpc bringup sim`.
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from jepa_mpc.ros_nodes.graph import GRAPHS, default_params


def generate_launch_description():
    params = LaunchConfiguration("params")
    nodes = [
        Node(package="jepa_mpc", executable=spec.executable, name=spec.name, parameters=[params], output="screen")
        for spec in GRAPHS["sim"]
    ]
    return LaunchDescription([
        DeclareLaunchArgument("params", default_value=str(default_params("sim")),
                              description="YAML parameter file for all nodes"),
        *nodes,
    ])
